import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ListedEntry } from "../../src/commands/pricing/index.js";
import { csvObjects } from "../helpers/csv.js";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

let home: Sandbox;
beforeAll(() => {
  home = makeHome();
});
afterAll(() => home.cleanup());
const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { ...home.env, ...env } });

describe("pricing list", () => {
  it("lists the whole catalog as JSON, in the catalog's shape", async () => {
    const r = await run(["pricing", "list", "--json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const entries = r.json<ListedEntry[]>();
    expect(entries).toHaveLength(45);
    expect(entries[0]).toEqual({
      provider: "hetzner", plan: "cx22", vcpu: 2, cpuKind: "shared", ramGb: 4, diskGb: 40, monthlyPrice: 3.79, hourlyPrice: 0.006,
      currency: "EUR", billing: "monthly-cap", availability: "always-on", includedTrafficGb: 20480,
      extras: { ipv4Monthly: 0.5, volumeGbMonthly: 0.044, egressGb: 0.001 },
      source: expect.stringContaining("https://www.hetzner.com/cloud/"), asOf: "2026-02-02", note: expect.any(String), listedCurrency: "EUR",
    });
  });

  it("filters by provider (aliases too), RAM and vCPU", async () => {
    const r = await run(["pricing", "list", "--provider", "do,fly", "--min-ram", "2", "--min-vcpu", "2", "--json"]);
    expect(r.json<ListedEntry[]>().map((e) => `${e.provider}/${e.plan}`)).toEqual([
      "digitalocean/s-2vcpu-2gb", "digitalocean/s-2vcpu-4gb", "digitalocean/s-4vcpu-8gb", "fly/shared-cpu-2x-2gb", "fly/shared-cpu-2x-4gb",
    ]);
    const none = await run(["pricing", "list", "--provider", "hetzner", "--min-ram", "64"]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe("PROVIDER   PLAN   VCPU   CPU   RAM GB   DISK GB   MONTHLY   HOURLY   CUR   BILLING   AVAILABILITY\n");
    expect(none.stderr).toBe("no plan matches\n");
  });

  it("prints a table, and CSV a CSV parser reads back", async () => {
    const table = await run(["pricing", "list", "--provider", "hetzner"]);
    expect(table.stdout.split("\n")).toEqual([
      "PROVIDER   PLAN    VCPU   CPU      RAM GB   DISK GB   MONTHLY   HOURLY   CUR   BILLING       AVAILABILITY",
      "hetzner    cx22       2   shared        4        40      3.79   0.0060   EUR   monthly-cap   always-on",
      "hetzner    cax11      2   shared        4        40      3.79   0.0060   EUR   monthly-cap   always-on",
      "hetzner    cpx11      2   shared        2        40      4.35   0.0070   EUR   monthly-cap   always-on",
      "hetzner    cx32       4   shared        8        80      6.80   0.0109   EUR   monthly-cap   always-on",
      "hetzner    cpx21      3   shared        4        80      7.55   0.0121   EUR   monthly-cap   always-on",
      "hetzner    cx42       8   shared       16       160     16.40   0.0263   EUR   monthly-cap   always-on",
      "",
    ]);
    const csv = await run(["pricing", "list", "-o", "csv", "--columns", "provider,plan,ram_gb,monthly,currency,note"]);
    const rows = csvObjects(csv.stdout);
    expect(rows).toHaveLength(45);
    expect(rows.find((x) => x.plan === "standard-1")).toMatchObject({ provider: "cloudflare-sandbox", ram_gb: "4", monthly: "27.75", currency: "USD" });
    // Notes hold commas, so they are quoted and must read back intact.
    expect(rows[0]!.note).toMatch(/^EU locations\. Billed per hour up to the monthly price\./);
  });

  it("converts to another currency at pricing.eurUsd", async () => {
    const r = await run(["pricing", "list", "--provider", "hetzner,digitalocean", "--currency", "USD", "--json"], { AUTOMNA_EUR_USD: "1.1" });
    const entries = r.json<ListedEntry[]>();
    expect(entries[0]).toMatchObject({ plan: "cx22", currency: "USD", listedCurrency: "EUR", monthlyPrice: expect.closeTo(4.169, 9), extras: { ipv4Monthly: expect.closeTo(0.55, 9) } });
    expect(entries.find((e) => e.plan === "s-1vcpu-1gb")).toMatchObject({ currency: "USD", listedCurrency: "USD", monthlyPrice: 6 });
  });

  it("prefers refreshed live prices for the providers they cover", async () => {
    const live = makeHome();
    try {
      const path = join(live.env.XDG_DATA_HOME!, "automna", "prices.json");
      mkdirSync(dirname(path), { recursive: true });
      const cx23 = {
        provider: "hetzner", plan: "cx23", vcpu: 2, cpuKind: "shared", ramGb: 4, diskGb: 40, monthlyPrice: 4.11, hourlyPrice: 0.0066, currency: "EUR",
        billing: "monthly-cap", availability: "always-on", includedTrafficGb: 20480, extras: { ipv4Monthly: 0.5, volumeGbMonthly: 0.044, egressGb: 0.001 },
        source: "Hetzner API GET /server_types", asOf: "2026-11-29",
      };
      writeFileSync(path, JSON.stringify({ schema: 1, providers: { hetzner: { fetchedAt: "2026-11-29T10:00:00Z", entries: [cx23] } } }));
      const r = await runCli(["pricing", "list", "--provider", "hetzner", "-o", "csv", "--columns", "plan,monthly,live"], { env: live.env });
      expect(csvObjects(r.stdout)).toEqual([{ plan: "cx23", monthly: "4.11", live: "true" }]);
    } finally {
      live.cleanup();
    }
  });

  const bad: [string[], string][] = [
    [["--provider", "linode"], 'Error: --provider: unknown provider "linode"'],
    [["--min-ram", "-1"], 'Error: --min-ram must be a number of at least 0, got "-1"'],
    [["--min-vcpu", "many"], 'Error: --min-vcpu must be a number of at least 0, got "many"'],
    [["--currency", "yen"], 'Error: --currency must be one of USD, EUR, got "yen"'],
    [["--columns", "plan,price"], 'Error: unknown column "price"'],
  ];
  for (const [args, message] of bad) {
    it(`exits 2 on ${args.join(" ")}`, async () => {
      const r = await run(["pricing", "list", ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toBe(message);
    });
  }

  it("shows up in the root help, in the Cost group", async () => {
    const r = await run(["--help"]);
    expect(r.stdout).toMatch(/Cost:\n {2}cost-report +what the fleet costs[^\n]*\n(?:[^\n]*\n)? {2}pricing +the price catalog/);
  });
});
