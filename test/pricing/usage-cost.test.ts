import { describe, expect, it } from "vitest";
import { monthPeriod } from "../../src/pricing/period.js";
import { intervalCost, summarize } from "../../src/pricing/usage-cost.js";
import { EUR_USD, FLEET, interval, NOVEMBER, NOVEMBER_TOTAL, NOW, withIds } from "./fixtures.js";

const t = (iso: string): number => Date.parse(iso);
const NOV = monthPeriod("2026-11")!;
const OCT = monthPeriod("2026-10")!;
const now = t(NOW);
const rates = { eurUsd: EUR_USD };

describe("intervalCost", () => {
  it("splits an interval across a month boundary by exact hours", () => {
    const iv = interval({ hourlyPrice: 0.01, start: "2026-10-31T12:00:00.000Z", end: "2026-11-01T12:00:00.000Z" });
    const end = t(iv.end!);
    expect(intervalCost(iv, NOV.from, NOV.to, end)).toEqual({ hours: 12, cost: expect.closeTo(0.12, 10) });
    expect(intervalCost(iv, OCT.from, OCT.to, end)).toEqual({ hours: 12, cost: expect.closeTo(0.12, 10) });
    expect(intervalCost(iv, OCT.from, NOV.to, end).cost).toBeCloseTo(0.24, 10);
    // A boundary inside an hour: 30 minutes of it.
    expect(intervalCost(iv, t("2026-11-01T11:30:00.000Z"), NOV.to, end)).toEqual({ hours: 0.5, cost: expect.closeTo(0.005, 10) });
  });

  it("bills each calendar month up to its cap and gives a period its share of that month", () => {
    // Oct: 744 h × 0.006 = 4.464, capped at 3.79. Nov 1-10: 216 h × 0.006 = 1.296, under the cap.
    const iv = interval({ hourlyPrice: 0.006, monthlyPrice: 3.79, currency: "EUR", start: "2026-10-01T00:00:00.000Z", end: "2026-11-10T00:00:00.000Z" });
    const end = t(iv.end!);
    expect(intervalCost(iv, OCT.from, OCT.to, end).cost).toBeCloseTo(3.79, 10);
    expect(intervalCost(iv, NOV.from, NOV.to, end).cost).toBeCloseTo(1.296, 10);
    // Oct 17 - Nov 5: 360 of October's 744 h share its capped 3.79; 96 of November's 216 h share its 1.296.
    const mid = intervalCost(iv, t("2026-10-17T00:00:00.000Z"), t("2026-11-05T00:00:00.000Z"), end);
    expect(mid.hours).toBe(360 + 96);
    expect(mid.cost).toBeCloseTo((3.79 * 360) / 744 + (1.296 * 96) / 216, 10);
    // Adjacent periods add up to the bill, never above a month's cap.
    const a = intervalCost(iv, OCT.from, t("2026-10-17T00:00:00.000Z"), end).cost;
    const b = intervalCost(iv, t("2026-10-17T00:00:00.000Z"), OCT.to, end).cost;
    expect(a + b).toBeCloseTo(3.79, 10);
  });

  it("caps per unit and multiplies by the quantity", () => {
    const iv = interval({ kind: "volume", quantity: 10, hourlyPrice: 0.0001, monthlyPrice: 0.05, start: "2026-11-01T00:00:00.000Z" });
    // 720 h × 0.0001 = 0.072 per GB, capped at 0.05; × 10 GB.
    expect(intervalCost(iv, NOV.from, NOV.to, NOV.to).cost).toBeCloseTo(0.5, 10);
  });

  it("counts nothing outside the period or before the interval starts", () => {
    const iv = interval({ start: "2026-12-02T00:00:00.000Z" });
    expect(intervalCost(iv, NOV.from, NOV.to, now)).toEqual({ hours: 0, cost: 0 });
    const closed = interval({ start: "2026-10-01T00:00:00.000Z", end: "2026-10-02T00:00:00.000Z" });
    expect(intervalCost(closed, NOV.from, NOV.to, t(closed.end!))).toEqual({ hours: 0, cost: 0 });
    const future = interval({ start: "2026-11-30T00:00:00.000Z" });
    expect(intervalCost(future, NOV.from, NOV.to, now)).toEqual({ hours: 0, cost: 0 });
  });
});

describe("summarize the fixture fleet for November 2026", () => {
  const fleet = withIds(FLEET);
  const opts = { currency: "USD" as const, rates, openEnd: now };

  it("totals every interval at its own recorded price, EUR converted", () => {
    const s = summarize(fleet, NOV, { ...opts, by: "provider" });
    expect(s.total).toBeCloseTo(NOVEMBER_TOTAL, 9);
    expect(s.total).toBeCloseTo(25.727456, 6);
    expect(s.server).toBeCloseTo(3.79 * 1.08 + 360 * 0.01786 + 324 * 0.02 + 240 * 0.014861 + 444 * 0.006 * 1.08 + 96 * 0.00893, 9);
    expect(s.volume).toBeCloseTo(0.5, 9);
    expect(s.ipv4).toBeCloseTo(0.5 * 1.08 + 444 * 0.0008 * 1.08, 9);
    expect(s.users).toBe(4);
    expect(s.intervals).toBe(9);
    expect(s.groups.map((g) => [g.key, g.users, g.intervals])).toEqual([
      ["digitalocean", 2, 3],
      ["hetzner", 2, 4],
      ["fly", 1, 2],
    ]);
    expect(s.groups.find((g) => g.key === "fly")!.total).toBeCloseTo(240 * 0.014861 + 0.5, 9);
  });

  it("keeps a price change in history: bob's two intervals at 0.01786 and 0.02", () => {
    const s = summarize(fleet, NOV, { ...opts, by: "user" });
    const bob = s.groups.find((g) => g.key === "bob")!;
    expect(bob.total).toBeCloseTo(6.4296 + 6.48, 9);
    expect(bob.intervals).toBe(2);
    expect(bob.serverHours).toBe(684);
  });

  it("counts a migrated user once, with each interval under its own provider", () => {
    const byUser = summarize(fleet, NOV, { ...opts, by: "user" });
    const carol = byUser.groups.find((g) => g.key === "carol")!;
    expect(carol.users).toBe(1);
    expect(carol.intervals).toBe(4);
    expect(carol.total).toBeCloseTo(NOVEMBER.carol, 9);
    expect(carol.serverHours).toBe(240 + 444);
    const byRegion = summarize(fleet, NOV, { ...opts, by: "region" });
    expect(byRegion.groups.map((g) => g.key).sort()).toEqual(["digitalocean/fra1", "fly/ams", "hetzner/fsn1", "hetzner/nbg1"]);
  });

  it("bills a destroyed user up to the destroy time", () => {
    const s = summarize(fleet, NOV, { ...opts, by: "user" });
    expect(s.groups.find((g) => g.key === "dave")!.total).toBeCloseTo(96 * 0.00893, 9);
    const oct = summarize(fleet, OCT, { ...opts, by: "user" });
    // October: 744 h × 0.00893 = 6.64 > the $6 cap.
    expect(oct.groups.find((g) => g.key === "dave")!.total).toBeCloseTo(6, 9);
  });

  it("reports in EUR: EUR prices stay exact, USD ones convert", () => {
    const s = summarize(fleet, NOV, { ...opts, currency: "EUR", by: "user" });
    expect(s.groups.find((g) => g.key === "alice")!.total).toBeCloseTo(3.79 + 0.5, 9);
    expect(s.total).toBeCloseTo(NOVEMBER_TOTAL / 1.08, 9);
  });

  it("refuses a currency it cannot convert instead of adding it as dollars", () => {
    expect(() => summarize([interval({ currency: "GBP" })], NOV, { ...opts, by: "user" })).toThrow(/cannot convert GBP to USD/);
  });
});
