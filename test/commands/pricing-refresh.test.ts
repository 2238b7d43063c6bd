import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ListedEntry } from "../../src/commands/pricing/index.js";
import type { PricingRefreshResult } from "../../src/commands/pricing/refresh.js";
import type { CostReport } from "../../src/pricing/report.js";
import { makeHome, ManualClock, runCli, type Sandbox } from "../helpers/cli.js";
import { sandbox } from "../sandbox/helpers.js";

type Sb = Awaited<ReturnType<typeof sandbox>>;
let sb: Sb;
beforeAll(async () => {
  sb = await sandbox();
});
afterAll(async () => {
  await sb.cleanup();
});

const clock = () => new ManualClock("2026-11-29T12:00:00.000Z");
const pricesPath = (h: Sandbox) => join(h.env.XDG_DATA_HOME!, "automna", "prices.json");

describe("pricing refresh against the sandbox", () => {
  it("reads Hetzner, DigitalOcean and Koyeb live prices, skips Fly and Cloudflare Sandbox, saves them with their date", async () => {
    const h = makeHome();
    try {
      const env = { ...h.env, ...sb.env() };
      const before = sb.requests().length;
      const r = await runCli(["pricing", "refresh", "--json"], { env, clock: clock() });
      expect(r.code, r.stderr).toBe(0);
      const result = r.json<PricingRefreshResult>();
      expect(result.path).toBe(pricesPath(h));
      expect(result.refreshed.map((x) => x.provider)).toEqual(["hetzner", "digitalocean", "koyeb"]);
      expect(result.refreshed.every((x) => x.fetchedAt === "2026-11-29T12:00:00.000Z" && x.plans >= 5)).toBe(true);
      expect(result.skipped).toEqual([
        { provider: "fly", reason: "the Machines API publishes no prices; automna uses its catalog" },
        { provider: "cloudflare-sandbox", reason: "the bridge publishes no prices; automna uses its dated catalog" },
      ]);
      expect(result.failed).toEqual([]);
      // Only reads, and the ones the issue names.
      const calls = sb.requests().slice(before).map((q) => `${q.provider} ${q.method} ${q.path}`);
      expect(new Set(calls)).toEqual(new Set(["hetzner GET /v1/server_types", "hetzner GET /v1/pricing", "digitalocean GET /v2/sizes", "koyeb GET /v1/catalog/instances"]));
      expect(r.stdout + r.stderr).not.toContain(sb.token);
      expect(readFileSync(pricesPath(h), "utf8")).not.toContain(sb.token);
      const yaml = await runCli(["pricing", "refresh", "--provider", "hetzner", "-o", "yaml"], { env, clock: clock() });
      expect(yaml.stdout).toMatch(/^refreshed:$/m);
      expect(yaml.stdout).toMatch(/provider: hetzner$/m);

      // From now on the live prices win for those providers (the sandbox lists CX42 at EUR 14.40).
      const list = await runCli(["pricing", "list", "--provider", "hetzner,do", "--json"], { env });
      const entries = list.json<ListedEntry[]>();
      expect(entries.find((e) => e.plan === "cx42")).toMatchObject({ monthlyPrice: 14.4, currency: "EUR", live: true, asOf: "2026-11-29", source: expect.stringContaining("Hetzner Cloud API") });
      expect(entries.find((e) => e.plan === "cx22")).toMatchObject({ monthlyPrice: 3.79, ramGb: 4, vcpu: 2, extras: { ipv4Monthly: 0.5 } });
      expect(entries.find((e) => e.plan === "ccx13")).toMatchObject({ live: true, note: expect.stringContaining("not in the shipped catalog") });
      expect(entries.find((e) => e.plan === "s-8vcpu-16gb")).toMatchObject({ provider: "digitalocean", monthlyPrice: 96, ramGb: 16 });
      // Fly keeps the shipped catalog.
      const fly = (await runCli(["pricing", "list", "--provider", "fly", "--json"], { env })).json<ListedEntry[]>();
      expect(fly.every((e) => e.live === undefined)).toBe(true);
      const cmp = (await runCli(["cost-report", "--users", "10", "--ram", "16", "--json"], { env, clock: clock() })).json<CostReport>().compare!;
      expect(cmp.rows.find((x) => x.provider === "digitalocean")).toMatchObject({ plans: [{ plan: "m-2vcpu-16gb", users: 10 }], monthly: 840 });
    } finally {
      h.cleanup();
    }
  });

  it("keeps what refreshed and exits 3 when another provider's API fails", async () => {
    const h = makeHome();
    try {
      sb.setFaults({ rules: [{ kind: "error", provider: "digitalocean", path: "/v2/sizes", status: 403 }] });
      const r = await runCli(["pricing", "refresh"], { env: { ...h.env, ...sb.env() }, clock: clock() });
      expect(r.code).toBe(3);
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^hetzner +\d+ plans +live prices of 2026-11-29T12:00:00\.000Z$/);
      expect(lines.find((l) => l.startsWith("digitalocean"))).toMatch(/^digitalocean +failed +/);
      expect(lines.find((l) => l.startsWith("fly"))).toMatch(/^fly +skipped +the Machines API publishes no prices/);
      const saved = JSON.parse(readFileSync(pricesPath(h), "utf8")) as { providers: Record<string, unknown> };
      expect(Object.keys(saved.providers)).toEqual(["hetzner", "koyeb"]);
    } finally {
      sb.setFaults({});
      h.cleanup();
    }
  });

  it("needs a token: exit 2, nothing written", async () => {
    const h = makeHome();
    try {
      const r = await runCli(["pricing", "refresh"], { env: h.env });
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toBe("Error: no provider to refresh prices from");
      expect(r.stderr).toContain("set HCLOUD_TOKEN or FLY_API_TOKEN or DIGITALOCEAN_ACCESS_TOKEN or KOYEB_TOKEN");
      expect(existsSync(pricesPath(h))).toBe(false);
      const bad = await runCli(["pricing", "refresh", "--provider", "render"], { env: h.env });
      expect(bad.code).toBe(2);
      expect(bad.stderr.split("\n")[0]).toBe('Error: unknown provider "render"');
    } finally {
      h.cleanup();
    }
  });
});
