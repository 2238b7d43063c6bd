import Cloudflare from "cloudflare";
import { expect } from "vitest";
import { failedWith, type ClientFlow } from "../flow.js";

/** Cloudflare's official TypeScript SDK (`cloudflare`), DNS records in the sandbox's zone. */
/** The status a Cloudflare SDK call failed with (its errors carry `status`). */
const statusOf = (call: Promise<unknown>): Promise<number | undefined> => failedWith(call, (e) => e.status);

export default {
  name: "Cloudflare SDK (cloudflare)",
  async run({ sb }) {
    const cf = new Cloudflare({ apiToken: sb.cloudflare.token, baseURL: sb.urls.cloudflare, maxRetries: 0 });
    const zone_id = sb.cloudflare.zoneId;
    const zoneName = sb.cloudflare.zones[0]!.name;
    expect((await cf.user.tokens.verify()).status).toBe("active");
    const zones: string[] = [];
    for await (const z of cf.zones.list()) zones.push(z.name);
    expect(zones).toEqual([zoneName]);

    const alice = await cf.dns.records.create({ zone_id, type: "A", name: `alice.${zoneName}`, content: "203.0.113.5", ttl: 60, proxied: false, comment: "automna user alice", tags: ["owner:alice"] });
    for (let i = 0; i < 6; i++) {
      await cf.dns.records.create({ zone_id, type: "TXT", name: `t${i}.${zoneName}`, content: `value ${i}`, ttl: 1, tags: [`owner:u${i % 2}`], comment: i === 0 ? "first" : undefined });
    }
    const names = async (params: Omit<Cloudflare.DNS.RecordListParams, "zone_id">): Promise<string[]> => {
      const out: string[] = [];
      for await (const r of cf.dns.records.list({ zone_id, ...params })) out.push(r.name.replace(`.${zoneName}`, ""));
      return out.sort();
    };
    // A name lookup returns that name only: a client deleting what it returns must not wipe the zone.
    expect(await names({ name: { exact: `alice.${zoneName}` } })).toEqual(["alice"]);
    expect(await names({ name: { exact: `ALICE.${zoneName}` } })).toEqual(["alice"]);
    expect(await names({ name: { contains: "t1" } })).toEqual(["t1"]);
    expect(await names({ name: { startswith: "t" }, type: "TXT" })).toEqual(["t0", "t1", "t2", "t3", "t4", "t5"]);
    expect(await names({ name: { endswith: `4.${zoneName}` } })).toEqual(["t4"]);
    expect(await names({ content: { exact: "value 3" } })).toEqual(["t3"]);
    expect(await names({ tag: { exact: "owner:u1" } })).toEqual(["t1", "t3", "t5"]);
    expect(await names({ comment: { present: "" } })).toEqual(["alice", "t0"]);
    expect(await names({ comment: { contains: "ALICE" } })).toEqual(["alice"]);
    expect(await names({ type: "A", tag: { exact: "owner:u0" }, match: "any" })).toEqual(["alice", "t0", "t2", "t4"]);
    expect(await names({ type: "A", tag: { exact: "owner:u0" }, match: "all" })).toEqual([]);
    // Several pages of two: the SDK's iterator follows result_info.
    expect(await names({ per_page: 2 })).toHaveLength(7);

    // PATCH: what is not sent (comment, tags) stays. (The SDK's types want type, name and ttl too.)
    const edited = await cf.dns.records.edit(alice.id, { zone_id, type: "A", name: `alice.${zoneName}`, ttl: 60, content: "203.0.113.6" });
    expect([edited.content, edited.ttl, edited.tags]).toEqual(["203.0.113.6", 60, ["owner:alice"]]);
    const replaced = await cf.dns.records.update(alice.id, { zone_id, type: "A", name: `alice.${zoneName}`, content: "203.0.113.7", ttl: 120 });
    expect([replaced.content, replaced.ttl, replaced.tags]).toEqual(["203.0.113.7", 120, []]);
    expect((await cf.dns.records.get(alice.id, { zone_id })).content).toBe("203.0.113.7");
    expect((await cf.dns.records.delete(alice.id, { zone_id }))?.id).toBe(alice.id);

    expect(await statusOf(cf.dns.records.get(alice.id, { zone_id }))).toBe(404);
    expect(await statusOf(cf.dns.records.create({ zone_id, type: "A", name: `bad.${zoneName}`, content: "not-an-ip", ttl: 1 }))).toBe(400);
    expect(await statusOf(cf.dns.records.create({ zone_id, type: "A", name: `bad.${zoneName}`, content: "203.0.113.9", ttl: 5 }))).toBe(400);
    expect(await statusOf(new Cloudflare({ apiToken: "wrongtoken123", baseURL: sb.urls.cloudflare, maxRetries: 0 }).zones.get({ zone_id }))).toBe(401);
    for await (const r of cf.dns.records.list({ zone_id, tag: { present: "owner" } })) await cf.dns.records.delete(r.id, { zone_id });
    expect(await names({})).toEqual([]);
  },
} satisfies ClientFlow;
