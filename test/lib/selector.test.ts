import { describe, expect, it } from "vitest";
import { parseLabelChange, parseLabels } from "../../src/lib/labels.js";
import { matches, parseSelector } from "../../src/lib/selector.js";

const pro = { plan: "pro", cohort: "beta" };
const basic = { plan: "basic" };
const none = {};

describe("label selectors (the Kubernetes grammar)", () => {
  it("matches each kind of requirement as Kubernetes does, absent labels included", () => {
    const cases: [string, boolean[]][] = [
      ["plan=pro", [true, false, false]],
      ["plan==pro", [true, false, false]],
      ["plan!=pro", [false, true, true]],
      ["plan in (pro, basic)", [true, true, false]],
      ["plan notin (pro)", [false, true, true]],
      ["cohort", [true, false, false]],
      ["!cohort", [false, true, true]],
      ["plan in (pro,basic),!cohort", [false, true, false]],
      ["example.com/tier=gold", [false, false, false]],
      ["plan=", [false, false, false]],
    ];
    for (const [text, expected] of cases) expect([text, [pro, basic, none].map((l) => matches(parseSelector(text), l))]).toEqual([text, expected]);
  });

  it("refuses what is not a selector, naming it", () => {
    for (const [text, why] of [
      ["", "empty"], ["plan=pro,", "an empty requirement"], ["plan in ()", "in needs at least one value"],
      ["Plan!", "is not a label key"], ["plan=a b", "is not a label value"], ["plan in pro", "is not a label key"],
    ]) expect(() => parseSelector(text!), text).toThrow(why!);
  });

  it("parses --label and label's k=v / k- changes, refusing contradictions", () => {
    expect(parseLabels("--label", ["plan=pro", "cohort=beta", "plan=pro"])).toEqual({ plan: "pro", cohort: "beta" });
    expect(() => parseLabels("--label", ["plan=pro", "plan=team"])).toThrow("--label: label plan given twice (pro and team)");
    expect(parseLabelChange(["plan=team", "cohort-", "trial="])).toEqual({ set: { plan: "team", trial: "" }, remove: ["cohort"] });
    expect(() => parseLabelChange(["plan=x", "plan-"])).toThrow("label plan is both set and removed");
  });
});
