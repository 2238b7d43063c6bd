import { describe, expect, it } from "vitest";
import { loadCatalog } from "../../src/pricing/catalog.js";
import { fleetShape, margins } from "../../src/pricing/compare.js";
import { monthPeriod, parsePeriod } from "../../src/pricing/period.js";
import { buildReport, projectionMonth, type ReportInput } from "../../src/pricing/report.js";
import { EUR_USD, FLEET, interval, NOVEMBER, NOVEMBER_PROJECTED, NOVEMBER_PROJECTED_TOTAL, NOVEMBER_TOTAL, NOW, withIds } from "./fixtures.js";

const catalog = loadCatalog();
const now = Date.parse(NOW);
const rates = { eurUsd: EUR_USD };
const fleet = withIds(FLEET);
const open = fleet.filter((iv) => iv.end === null);

function input(over: Partial<ReportInput> = {}): ReportInput {
  return { intervals: fleet, open, catalog, period: monthPeriod("2026-11")!, now, currency: "USD", rates, by: "provider", planPrices: [], ...over };
}

describe("buildReport", () => {
  it("projects the full month: open intervals run to its end at their recorded prices", () => {
    const r = buildReport(input());
    expect(r.spend.total).toBeCloseTo(NOVEMBER_TOTAL, 9);
    expect(r.spend.averagePerUser).toBeCloseTo(NOVEMBER_TOTAL / 4, 9);
    expect(r.projectedMonth.month).toBe("2026-11");
    expect(r.projectedMonth.total).toBeCloseTo(NOVEMBER_PROJECTED_TOTAL, 9);
    expect(r.projectedMonth.total).toBeCloseTo(26.71184, 6);
    expect(r.projectedMonth.users).toBe(4);
    const byUser = buildReport(input({ by: "user" }));
    const bob = byUser.spend.groups.find((g) => g.key === "bob")!;
    expect(bob.projectedMonthly).toBeCloseTo(NOVEMBER_PROJECTED.bob, 9);
    expect(byUser.spend.groups.find((g) => g.key === "alice")!.total).toBeCloseTo(NOVEMBER.alice, 9);
    // The chart's per-provider totals exist whatever the grouping.
    expect(byUser.spend.providers.map((p) => p.provider)).toEqual(["digitalocean", "hetzner", "fly"]);
  });

  it("projects the month a rolling window ends in, and a past month as its actual bill", () => {
    expect(projectionMonth(parsePeriod({ period: "30d" }, now), now).label).toBe("2026-11");
    const oct = buildReport(input({ period: monthPeriod("2026-10")! }));
    expect(oct.projectedMonth.month).toBe("2026-10");
    expect(oct.projectedMonth.total).toBeCloseTo(oct.spend.total, 9);
  });

  it("gives the margin per user at each plan price, overall and per group", () => {
    const r = buildReport(input({ planPrices: [29, 79], by: "user" }));
    const perUser = NOVEMBER_PROJECTED_TOTAL / 4;
    expect(r.margins).toEqual([
      { planPrice: 29, costPerUser: expect.closeTo(perUser, 9), margin: expect.closeTo(29 - perUser, 9), marginPct: expect.closeTo(((29 - perUser) / 29) * 100, 9) },
      { planPrice: 79, costPerUser: expect.closeTo(perUser, 9), margin: expect.closeTo(79 - perUser, 9), marginPct: expect.closeTo(((79 - perUser) / 79) * 100, 9) },
    ]);
    expect(r.spend.groups.find((g) => g.key === "bob")!.margins![0]!.margin).toBeCloseTo(29 - NOVEMBER_PROJECTED.bob, 9);
    expect(margins([10], 12)[0]).toMatchObject({ margin: -2, marginPct: -20 });
  });

  it("restricts spend, fleet and comparison to --provider", () => {
    const r = buildReport(input({ providers: ["fly"] }));
    expect(r.spend.total).toBeCloseTo(240 * 0.014861 + 0.5, 9);
    expect(r.spend.users).toBe(1);
    const c = buildReport(input({ providers: ["hetzner", "fly"], compare: {} })).compare!;
    expect(c.rows.map((x) => x.provider)).toEqual(["hetzner", "fly"]);
    expect(c.users).toBe(2);
    expect(c.current!.monthly).toBeCloseTo(2 * 3.79 * 1.08, 9);
    // Nobody runs on Fly any more (carol moved): no fleet there to compare.
    expect(() => buildReport(input({ providers: ["fly"], compare: {} }))).toThrow(/no servers are running/);
  });
});

describe("compare", () => {
  it("reads the running fleet's shape, one server per user, from the catalog", () => {
    const shape = fleetShape(open, catalog, "USD", rates);
    expect(shape.users).toBe(3);
    expect(shape.groups).toEqual([
      { need: { ramGb: 4 }, users: 2 },
      { need: { ramGb: 2 }, users: 1 },
    ]);
    // alice and carol: min(730 h × 0.006, 3.79) EUR; bob: min(730 × 0.02, 13.44) USD.
    expect(shape.currentMonthly).toBeCloseTo(2 * 3.79 * 1.08 + 13.44, 9);
    // A user mid-migration counts once, at the newer server.
    const migrating = [...open, interval({ user: "alice", provider: "fly", size: "shared-cpu-1x-2gb", start: "2026-11-29T00:00:00.000Z" })];
    expect(fleetShape(migrating, catalog, "USD", rates).users).toBe(3);
    // Every size automna provisions is in the price catalog (one table for both).
    const cpx = fleetShape([interval({ provider: "hetzner", size: "cpx11" })], catalog, "USD", rates);
    expect(cpx).toMatchObject({ users: 1, groups: [{ need: { ramGb: 2 }, users: 1 }], unknown: [] });
    const unknown = fleetShape([interval({ provider: "hetzner", size: "cx99" })], catalog, "USD", rates);
    expect(unknown).toMatchObject({ users: 0, unknown: [{ provider: "hetzner", size: "cx99", users: 1 }] });
  });

  it("prices the fleet on every provider at the cheapest plan per need, with the saving", () => {
    const r = buildReport(input({ compare: {} }));
    const c = r.compare!;
    expect(c.basis).toBe("fleet");
    expect(c.current!.monthly).toBeCloseTo(21.6264, 9);
    const row = (p: string) => c.rows.find((x) => x.provider === p)!;
    expect(row("hetzner")).toMatchObject({ plans: [{ plan: "cx22", users: 3 }], alwaysOn: true });
    expect(row("hetzner").monthly).toBeCloseTo(3 * (3.79 + 0.5) * 1.08, 9);
    expect(row("hetzner").saving).toBeCloseTo(21.6264 - 3 * 4.6332, 9);
    expect(row("digitalocean").plans).toEqual([{ plan: "s-2vcpu-4gb", users: 2 }, { plan: "s-1vcpu-2gb", users: 1 }]);
    expect(row("digitalocean").monthly).toBeCloseTo(60, 9);
    expect(row("digitalocean").saving).toBeCloseTo(21.6264 - 60, 9);
    expect(row("cloudflare-sandbox")).toMatchObject({ alwaysOn: false, availability: "hibernates" });
    expect(row("cloud-run")).toMatchObject({ alwaysOn: false, availability: "scales-to-zero" });
    // Cheapest first.
    expect(c.rows.map((x) => x.monthly)).toEqual([...c.rows.map((x) => x.monthly)].sort((a, b) => a - b));
  });

  it("prices a shape given by flags, with no fleet at all", () => {
    const r = buildReport(input({ intervals: [], open: [], compare: { shape: { users: 100, ramGb: 2 } }, planPrices: [29] }));
    const c = r.compare!;
    expect(c.basis).toBe("flags");
    expect(c.current).toBeNull();
    expect(c.rows[0]).toMatchObject({ provider: "hetzner", plans: [{ plan: "cx22", users: 100 }], saving: null });
    expect(c.rows[0]!.monthly).toBeCloseTo(463.32, 9);
    expect(c.rows[0]!.margins![0]!.margin).toBeCloseTo(29 - 4.6332, 9);
    expect(c.rows).toHaveLength(9);
    const big = buildReport(input({ intervals: [], open: [], compare: { shape: { users: 1, ramGb: 8 } } })).compare!;
    expect(big.unmet.map((u) => u.provider)).toEqual(["fly", "koyeb", "railway", "aws-fargate", "cloud-run", "cloudflare-sandbox"]);
    expect(big.unmet[0]!.reason).toBe("no plan with 8 GB RAM");
  });

  it("needs a fleet or a shape", () => {
    expect(() => buildReport(input({ intervals: [], open: [], compare: {} }))).toThrow(/--compare has no fleet to price: no servers are running/);
  });
});
