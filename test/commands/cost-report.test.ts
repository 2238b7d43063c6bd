import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CostReport } from "../../src/pricing/report.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import { csvObjects } from "../helpers/csv.js";
import { makeHome, ManualClock, runCli, type Sandbox } from "../helpers/cli.js";
import { FLEET, NOVEMBER, NOVEMBER_PROJECTED_TOTAL, NOVEMBER_TOTAL, NOW } from "../pricing/fixtures.js";

let home: Sandbox;
let fleetDb: string;
const clock = (): ManualClock => new ManualClock(NOW);
const ESC = "\u001b";

beforeAll(async () => {
  home = makeHome({ AUTOMNA_EUR_USD: "1.08" });
  fleetDb = join(home.dir, "fleet.db");
  const store = await SqliteStore.open(fleetDb);
  for (const iv of FLEET) await store.openUsage(iv);
  await store.close();
});
afterAll(() => home.cleanup());

const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { ...home.env, ...env }, clock: clock() });
const withFleet = (args: string[]) => run(["--state", fleetDb, "cost-report", ...args]);

describe("cost-report with no fleet and no credentials (compare mode)", () => {
  it("prices N users on every provider, cheapest first, and creates no state", async () => {
    const fresh = makeHome();
    try {
      const r = await runCli(["cost-report", "--compare", "--users", "100", "--ram", "2", "--plan-price", "29,79", "--json"], { env: fresh.env, clock: clock() });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const report = r.json<CostReport>();
      expect(Object.keys(report)).toEqual(["currency", "eurUsd", "period", "by", "providers", "spend", "projectedMonth", "margins", "compare"]);
      expect(report).toMatchObject({ currency: "USD", eurUsd: 1.08, by: "provider", providers: null, margins: [] });
      expect(report.spend).toMatchObject({ total: 0, users: 0, intervals: 0, groups: [] });
      const c = report.compare!;
      expect(c).toMatchObject({ basis: "flags", users: 100, shape: [{ need: { ramGb: 2 }, users: 100 }], current: null, unmet: [], unknownSizes: [] });
      expect(c.rows.map((x) => x.provider)).toEqual(["hetzner", "fly", "digitalocean", "aws-fargate", "koyeb", "render", "cloudflare-sandbox", "railway", "cloud-run"]);
      expect(c.rows[0]).toEqual({
        provider: "hetzner", plans: [{ plan: "cx22", users: 100 }], vcpu: 2, ramGb: 4, cpuKind: "shared", availability: "always-on", alwaysOn: true,
        perUser: 4.6332, monthly: 463.32, saving: null, savingPct: null, notes: [expect.stringContaining("EU locations")],
        margins: [
          { planPrice: 29, costPerUser: 4.6332, margin: 24.3668, marginPct: 84.0234 },
          { planPrice: 79, costPerUser: 4.6332, margin: 74.3668, marginPct: 94.1352 },
        ],
      });
      expect(c.rows.filter((x) => !x.alwaysOn).map((x) => [x.provider, x.availability])).toEqual([["cloudflare-sandbox", "hibernates"], ["cloud-run", "scales-to-zero"]]);
      expect(existsSync(fresh.statePath)).toBe(false);
    } finally {
      fresh.cleanup();
    }
  });

  it("draws a bar chart per provider and flags providers that are not always-on", async () => {
    const r = await run(["cost-report", "--users", "10", "--ram", "1"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("Monthly cost of 10 users on every provider  need 10 × 1 GB (from --users/--ram), cheapest plan that fits, USD");
    expect(lines).toContain("PROVIDER             PLAN                VCPU   RAM GB   PER USER   MONTHLY   ALWAYS-ON");
    expect(lines.find((l) => l.startsWith("hetzner   "))).toMatch(/cx22 +2 +4 +\$4\.63 +\$46\.33 +yes$/);
    const bars = lines.filter((l) => /[█▏▎▍▌▋▊▉]/.test(l));
    expect(bars).toHaveLength(9);
    // The most expensive provider fills the chart; others are shorter.
    expect(bars.at(-1)).toMatch(/^cloud-run +█{40} +\$525\.60 {2}not always-on \(scales-to-zero\)$/);
    expect(bars.find((l) => l.startsWith("cloudflare-sandbox"))).toMatch(/\$73\.10 {2}not always-on \(hibernates\)$/);
    expect(r.stdout).not.toContain(ESC);
  });

  it("colours the chart on a terminal, and not with NO_COLOR", async () => {
    const tty = await runCli(["cost-report", "--users", "1", "--ram", "1"], { env: home.env, clock: clock(), tty: true });
    expect(tty.stdout).toContain(`${ESC}[36m█`);
    const plain = await runCli(["cost-report", "--users", "1", "--ram", "1"], { env: { ...home.env, NO_COLOR: "1" }, clock: clock(), tty: true });
    expect(plain.stdout).not.toContain(ESC);
    expect(plain.stdout).toMatch(/█/);
  });

  it("converts to EUR at the configured rate", async () => {
    const r = await run(["cost-report", "--users", "1", "--ram", "4", "--currency", "eur", "--json"], { AUTOMNA_EUR_USD: "1.25" });
    const report = r.json<CostReport>();
    expect(report).toMatchObject({ currency: "EUR", eurUsd: 1.25 });
    expect(report.compare!.rows.find((x) => x.provider === "hetzner")!.monthly).toBe(4.29);
    expect(report.compare!.rows.find((x) => x.provider === "digitalocean")!.monthly).toBe(19.2);
  });
});

describe("cost-report over a recorded fleet", () => {
  it("reports November's spend by provider, projected month and margins as JSON", async () => {
    const r = await withFleet(["--period", "2026-11", "--plan-price", "29", "--json"]);
    expect(r.code).toBe(0);
    const report = r.json<CostReport>();
    expect(report.period).toEqual({ from: "2026-11-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z", label: "2026-11", hours: 720 });
    expect(report.spend.total).toBeCloseTo(NOVEMBER_TOTAL, 4);
    expect(report.spend).toMatchObject({ users: 4, intervals: 9, volume: 0.5 });
    expect(report.spend.groups.map((g) => [g.key, g.users])).toEqual([["digitalocean", 2], ["hetzner", 2], ["fly", 1]]);
    expect(Object.keys(report.spend.groups[0]!)).toEqual(["key", "users", "intervals", "serverHours", "server", "volume", "ipv4", "total", "share", "projectedMonthly", "projectedPerUser", "margins"]);
    expect(report.projectedMonth).toMatchObject({ month: "2026-11", users: 4 });
    expect(report.projectedMonth.total).toBeCloseTo(NOVEMBER_PROJECTED_TOTAL, 4);
    expect(report.margins[0]!.margin).toBeCloseTo(29 - NOVEMBER_PROJECTED_TOTAL / 4, 4);
    expect(report.compare).toBeNull();
  });

  it("groups by user: a price change and a migration each priced per interval", async () => {
    const report = (await withFleet(["--by", "user", "--json"])).json<CostReport>();
    const by = Object.fromEntries(report.spend.groups.map((g) => [g.key, g]));
    expect(by.bob!.total).toBeCloseTo(NOVEMBER.bob, 4);
    expect(by.bob!.intervals).toBe(2);
    expect(by.carol!.total).toBeCloseTo(NOVEMBER.carol, 4);
    expect(by.carol!.users).toBe(1);
    expect(by.dave!.total).toBeCloseTo(NOVEMBER.dave, 4);
  });

  it("writes CSV a CSV parser reads back, with margin columns", async () => {
    const r = await withFleet(["--by", "region", "--plan-price", "29,79", "-o", "csv"]);
    expect(r.code).toBe(0);
    const rows = csvObjects(r.stdout);
    expect(Object.keys(rows[0]!)).toEqual(["region", "users", "server", "volume", "ipv4", "total", "share", "projected_month", "per_user_month", "currency", "margin_29", "margin_79"]);
    expect(rows.map((x) => x.region)).toEqual(["digitalocean/fra1", "hetzner/fsn1", "fly/ams", "hetzner/nbg1"]);
    const total = rows.reduce((sum, x) => sum + Number(x.total), 0);
    expect(total).toBeCloseTo(NOVEMBER_TOTAL, 3);
    expect(Number(rows[1]!.margin_29)).toBeCloseTo(29 - NOVEMBER.alice, 3);
    const bare = await withFleet(["-o", "csv", "--columns", "provider,total", "--no-header"]);
    expect(bare.stdout.split("\r\n")[0]).toBe("digitalocean,13.7669");
  });

  it("compares the running fleet with every provider and shows the saving", async () => {
    const r = await withFleet(["--compare", "-o", "csv"]);
    expect(r.code).toBe(0);
    const rows = csvObjects(r.stdout);
    expect(rows[0]).toEqual({
      provider: "hetzner", plan: "cx22", vcpu: "2", ram_gb: "4", per_user: "4.6332", monthly: "13.8996", saving: "7.7268",
      always_on: "true", estimate: "false", currency: "USD",
    });
    const picked = csvObjects((await withFleet(["--compare", "-o", "csv", "--columns", "provider,saving_pct,availability"])).stdout);
    expect(picked.at(-1)).toEqual({ provider: "cloud-run", saving_pct: "-1236.70", availability: "scales-to-zero" });
    expect(rows.find((x) => x.provider === "digitalocean")).toMatchObject({ plan: "s-2vcpu-4gb×2 + s-1vcpu-2gb×1", monthly: "60.0000", saving: "-38.3736" });
    // For a past period the fleet is still the one running now.
    const past = (await withFleet(["--period", "2026-10", "--compare", "--json"])).json<CostReport>().compare!;
    expect(past).toMatchObject({ basis: "fleet", users: 3, current: { monthly: 21.6264 } });
    // A shape from flags is compared with the fleet's cost per user, scaled to the users asked about.
    const scaled = (await withFleet(["--users", "30", "--ram", "2", "--json"])).json<CostReport>().compare!;
    expect(scaled.basis).toBe("flags");
    expect(scaled.current).toEqual({ monthly: 216.264, perUser: 7.2088 });
    expect(scaled.rows[0]).toMatchObject({ provider: "hetzner", monthly: 138.996, saving: 77.268 });
    const table = await withFleet(["--compare"]);
    expect(table.stdout).toContain("Current fleet: $21.63 a month ($7.21 per user, servers and their IPv4)");
    expect(table.stdout).toContain("need 2 × 4 GB, 1 × 2 GB (from the running fleet)");
  });

  it("a size missing from the price catalog is left out of --compare with a warning", async () => {
    const db = join(home.dir, "odd-sizes.db");
    const store = await SqliteStore.open(db);
    const base = { ...FLEET[0]!, kind: "server" as const, monthlyPrice: null, end: null };
    await store.openUsage({ ...base, user: "u1", size: "cpx11", hourlyPrice: 0.007 });
    await store.openUsage({ ...base, user: "u2", size: "cx99", hourlyPrice: 0.1 });
    await store.close();
    const r = await run(["--state", db, "cost-report", "--compare", "--json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("Warning: 1 user on hetzner cx99: size not in the price catalog, left out of --compare\n");
    expect(r.json<CostReport>().compare).toMatchObject({ users: 1, shape: [{ need: { ramGb: 2 }, users: 1 }], unknownSizes: [{ provider: "hetzner", size: "cx99", users: 1 }] });
  });

  it("prints the spend as a table with a chart of cost per provider", async () => {
    const r = await withFleet(["--period", "2026-11"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("Cost report 2026-11  2026-11-01 to 2026-12-01, USD (EUR at 1.08 USD)");
    expect(lines[1]).toMatch(/^Spend: +\$25\.73 +server \$24\.30, volumes \$0\.50, IPv4 \$0\.92$/);
    expect(lines).toContain("digitalocean  ████████████████████████████████████████  $13.77");
  });

  it("says so when a period has no usage", async () => {
    const r = await withFleet(["--period", "2025-01"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("No usage recorded in this period.");
  });
});

describe("cost-report bad input: exit 2 with one clear line", () => {
  const cases: [string[], string][] = [
    [["--provider", "hetzer", "--users", "1", "--ram", "1"], 'Error: --provider: unknown provider "hetzer"'],
    [["--period", "last-month"], 'Error: --period must be a window like 30d, 12h or 2w, or a month like 2026-11, got "last-month"'],
    [["--users", "-5", "--ram", "2"], 'Error: --users must be a whole number from 1 to 10000000, got "-5"'],
    [["--users", "10"], "Error: --users needs --ram GB (the memory each user's agent needs)"],
    [["--users", "10", "--ram", "0"], 'Error: --ram must be more than 0, got "0"'],
    [["--by", "team"], 'Error: --by must be one of user, provider, region, label:KEY, got "team"'],
    [["--currency", "GBP"], 'Error: --currency must be one of USD, EUR, got "GBP"'],
    [["--plan-price", "29,abc"], 'Error: --plan-price must be a number of at least 0, got "abc"'],
    [["--from", "2026-11-10", "--to", "2026-11-01"], "Error: --to must be after --from (2026-11-10T00:00:00.000Z)"],
    [["-o", "ndjson"], 'Error: unknown output format "ndjson"'],
    [["--compare"], "Error: --compare has no fleet to price: no servers are running"],
  ];
  for (const [args, message] of cases) {
    it(args.join(" "), async () => {
      const r = await run(["cost-report", ...args]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n")[0]).toBe(message);
    });
  }

  it("prints a JSON error document with --json", async () => {
    const r = await run(["cost-report", "--period", "nope", "--json"]);
    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({ error: { code: "usage", message: expect.stringContaining("--period") } });
  });

  it("rejects a bad conversion rate in config", async () => {
    const r = await run(["cost-report", "--users", "1", "--ram", "1"], { AUTOMNA_EUR_USD: "-1" });
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe('Error: AUTOMNA_EUR_USD: "-1" is not a number from 0.01 to 100');
  });
});
