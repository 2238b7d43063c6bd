import { describe, expect, it } from "vitest";
import { formatMoney } from "../../src/pricing/money.js";

describe("formatMoney", () => {
  it("shows an amount that is not zero but would round to 0.00 with four decimals, so bars are told apart", () => {
    expect([formatMoney(0.0021, "USD"), formatMoney(0.0043, "USD"), formatMoney(0, "USD"), formatMoney(-0.001, "EUR")]).toEqual(["$0.0021", "$0.0043", "$0.00", "-€0.0010"]);
    expect(formatMoney(4.29, "EUR")).toBe("€4.29");
  });
});
