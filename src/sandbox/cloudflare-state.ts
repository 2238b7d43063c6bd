import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cfId, planLimits, type CfRecord, type CfZone, type PlanLimits, type ZonePlan } from "./cloudflare-records.js";

/** A zone to create at start (or keep, when the data directory already has it). */
export interface ZoneSpec {
  name: string;
  /** 32 hex characters; random when omitted. */
  id?: string;
  plan?: ZonePlan;
  limits?: Partial<PlanLimits>;
}

/**
 * The Cloudflare stand-in's world: zones and records in memory, written to
 * `<dataDir>/cloudflare.json` after every change when a data directory is given, so a sandbox
 * restarted between commands keeps its DNS.
 */
export class CloudflareWorld {
  readonly zones: CfZone[] = [];
  readonly records = new Map<string, CfRecord[]>();
  readonly limits = new Map<string, PlanLimits>();
  readonly accountId: string;
  readonly #file: string | undefined;

  constructor(zones: readonly ZoneSpec[], dataDir?: string) {
    this.#file = dataDir === undefined ? undefined : join(dataDir, "cloudflare.json");
    let saved: { accountId?: string; zones?: CfZone[]; records?: Record<string, CfRecord[]> } = {};
    if (this.#file) {
      mkdirSync(dataDir!, { recursive: true });
      try {
        saved = JSON.parse(readFileSync(this.#file, "utf8")) as typeof saved;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    this.accountId = saved.accountId ?? randomBytes(16).toString("hex");
    for (const zone of saved.zones ?? []) {
      this.zones.push(zone);
      this.records.set(zone.id, saved.records?.[zone.id] ?? []);
    }
    const now = new Date().toISOString();
    for (const spec of zones) {
      const name = spec.name.toLowerCase().replace(/\.$/, "");
      let zone = this.zones.find((z) => z.name === name);
      if (!zone) {
        if (spec.id !== undefined && !/^[0-9a-f]{32}$/.test(spec.id)) throw new Error(`zone id "${spec.id}" must be 32 hex characters`);
        zone = { id: spec.id ?? cfId(), name, plan: spec.plan ?? "pro", created_on: now, modified_on: now };
        this.zones.push(zone);
        this.records.set(zone.id, []);
      }
      this.limits.set(zone.id, planLimits(spec.plan ?? zone.plan, spec.limits));
    }
    for (const zone of this.zones) if (!this.limits.has(zone.id)) this.limits.set(zone.id, planLimits(zone.plan));
    this.save();
  }

  /** A token's id as `GET /user/tokens/verify` reports it: stable per token and account, and not the token. */
  tokenId(token: string): string {
    return createHash("sha256").update(`${this.accountId}:${token}`).digest("hex").slice(0, 32);
  }

  zone(id: string): CfZone | undefined {
    return this.zones.find((z) => z.id === id);
  }

  save(): void {
    if (!this.#file) return;
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ accountId: this.accountId, zones: this.zones, records: Object.fromEntries(this.records) }));
    renameSync(tmp, this.#file);
  }

  /** The zone object as `GET /zones` returns it (the schema's required fields plus status, plan). */
  renderZone(zone: CfZone): Record<string, unknown> {
    const paid = zone.plan !== "free";
    const planName = { free: "Free Website", pro: "Pro Website", business: "Business Website", enterprise: "Enterprise Website" }[zone.plan];
    return {
      id: zone.id,
      name: zone.name,
      status: "active",
      paused: false,
      type: "full",
      development_mode: 0,
      name_servers: ["ada.ns.sandbox.test", "bob.ns.sandbox.test"],
      original_name_servers: null,
      original_registrar: null,
      original_dnshost: null,
      created_on: zone.created_on,
      modified_on: zone.modified_on,
      activated_on: zone.created_on,
      owner: { id: this.accountId, type: "user", name: "automna sandbox" },
      account: { id: this.accountId, name: "automna sandbox" },
      meta: { step: 4, custom_certificate_quota: paid ? 1 : 0, page_rule_quota: paid ? 20 : 3, phishing_detected: false, dns_only: false, cdn_only: false, foundation_dns: false },
      permissions: ["#dns_records:edit", "#dns_records:read", "#zone:read"],
      plan: { id: zone.id.slice(0, 16) + "0".repeat(16), name: planName, price: 0, currency: "USD", frequency: "", is_subscribed: true, can_subscribe: false, legacy_id: zone.plan, legacy_discount: false, externally_managed: false },
    };
  }
}
