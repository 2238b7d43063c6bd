import { Chalk } from "chalk";
import { describe, expect, it } from "vitest";
import { barChart, blocks } from "../../src/lib/bar-chart.js";

describe("bar chart", () => {
  it("draws bars at 1/8-cell resolution", () => {
    expect(blocks(0)).toBe("");
    expect(blocks(1)).toBe("█");
    expect(blocks(2.5)).toBe("██▌");
    expect(blocks(0.125)).toBe("▏");
    expect(blocks(3.9)).toBe("███▉");
  });

  it("scales to the largest value, keeps small values visible and aligns the text", () => {
    const plain = new Chalk({ level: 0 });
    const lines = barChart([
      { label: "hetzner", value: 10, text: "$10.00" },
      { label: "cloud-run", value: 20, text: "$20.00", muted: true },
      { label: "tiny", value: 0.001, text: "$0.00" },
      { label: "zero", value: 0, text: "$0.00" },
    ], 10, plain);
    expect(lines).toEqual([
      "hetzner    █████       $10.00",
      "cloud-run  ██████████  $20.00",
      "tiny       ▏           $0.00",
      "zero                   $0.00",
    ]);
    const coloured = barChart([{ label: "a", value: 1, text: "x", muted: true }], 10, new Chalk({ level: 1 }));
    expect(coloured[0]).toContain("\u001b[33m██████████");
  });
});
