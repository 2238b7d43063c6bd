import { describe, expect, it } from "vitest";
import { parsePeriod } from "../../src/pricing/period.js";

const now = Date.parse("2026-11-29T12:00:00.000Z");
const iso = (p: { from: number; to: number }): [string, string] => [new Date(p.from).toISOString(), new Date(p.to).toISOString()];

describe("parsePeriod", () => {
  it("defaults to the current calendar month", () => {
    expect(iso(parsePeriod({}, now))).toEqual(["2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z"]);
  });

  it("reads months, windows and --from/--to", () => {
    expect(iso(parsePeriod({ period: "2026-02" }, now))).toEqual(["2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"]);
    expect(iso(parsePeriod({ period: "2026-12" }, now))).toEqual(["2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"]);
    expect(iso(parsePeriod({ period: "30d" }, now))).toEqual(["2026-10-30T12:00:00.000Z", "2026-11-29T12:00:00.000Z"]);
    expect(iso(parsePeriod({ period: "12h" }, now))[0]).toBe("2026-11-29T00:00:00.000Z");
    expect(iso(parsePeriod({ period: "2w" }, now))[0]).toBe("2026-11-15T12:00:00.000Z");
    expect(iso(parsePeriod({ from: "2026-11-10" }, now))).toEqual(["2026-11-10T00:00:00.000Z", "2026-11-29T12:00:00.000Z"]);
    expect(iso(parsePeriod({ from: "2026-11-10T06:00:00+02:00", to: "2026-11-11" }, now))).toEqual(["2026-11-10T04:00:00.000Z", "2026-11-11T00:00:00.000Z"]);
  });

  it("rejects what does not parse, naming the flag", () => {
    expect(() => parsePeriod({ period: "last month" }, now)).toThrow(/--period must be a window like 30d/);
    expect(() => parsePeriod({ period: "2026-13" }, now)).toThrow(/--period/);
    expect(() => parsePeriod({ period: "0d" }, now)).toThrow(/--period/);
    expect(() => parsePeriod({ from: "2026-02-30" }, now)).toThrow(/--from must be a date/);
    expect(() => parsePeriod({ from: "yesterday" }, now)).toThrow(/--from must be a date/);
    expect(() => parsePeriod({ from: "2026-11-10T06:00:00" }, now)).toThrow(/with a zone/);
    expect(() => parsePeriod({ to: "2026-11-10" }, now)).toThrow(/--to needs --from/);
    expect(() => parsePeriod({ from: "2026-11-10", to: "2026-11-01" }, now)).toThrow(/--to must be after --from/);
    expect(() => parsePeriod({ period: "30d", from: "2026-11-01" }, now)).toThrow(/cannot be combined/);
  });
});

describe("month boundaries", () => {
  it("match Date.UTC for every month from 1969 to 2101, from any instant inside", async () => {
    const { monthStart, nextMonthStart } = await import("../../src/pricing/period.js");
    for (let y = 1969; y <= 2101; y++) {
      for (let m = 0; m < 12; m++) {
        const start = Date.UTC(y, m, 1);
        const next = Date.UTC(y, m + 1, 1);
        for (const t of [start, start + 1, next - 1, start + 15 * 86_400_000 + 3_600_000]) {
          expect(monthStart(t)).toBe(start);
          expect(nextMonthStart(t)).toBe(next);
        }
      }
    }
  });
});

describe("parseIso", () => {
  it("reads the store's ISO form exactly like Date.parse, and falls back for others", async () => {
    const { parseIso } = await import("../../src/pricing/period.js");
    for (let t = Date.UTC(1999, 11, 31, 23, 59, 59, 999); t < Date.UTC(2031, 0, 1); t += 7_777_777_777) {
      const iso = new Date(t).toISOString();
      expect(parseIso(iso)).toBe(t);
    }
    expect(parseIso("2028-02-29T12:34:56.789Z")).toBe(Date.parse("2028-02-29T12:34:56.789Z"));
    expect(parseIso("2026-11-01T00:00:00Z")).toBe(Date.parse("2026-11-01T00:00:00Z"));
    expect(parseIso("2026-11-01T01:00:00.000+01:00")).toBe(Date.parse("2026-11-01T00:00:00.000Z"));
    expect(parseIso("2026-1x-01T00:00:00.000Z")).toBeNaN();
  });
});
