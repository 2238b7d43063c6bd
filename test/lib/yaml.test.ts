import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { toYaml } from "../../src/lib/yaml.js";

describe("toYaml", () => {
  it("writes every string so that a YAML parser reads back the same string", () => {
    const tricky = [
      "", " lead", "trail ", "yes", "No", "on", "off", "y", "null", "~", "true", "False", "1", "0x1f", "1e3", "0o17", ".5", ".inf", "-.inf", ".nan",
      "2026-11-01", "2026-11-01T10:00:00Z", "12:30", "a: b", "a #b", "#c", "- x", "? x", "[a]", "{a}", "&a", "*a", "!tag", "|", ">", "%x", "@x", "`x",
      "'q'", '"q"', "multi\nline", "tab\there", "back\\slash", "ünïcödé", "4.29 EUR", "$1,234.50", "op_0mxabfr6e726d5dbbec46", "ghcr.io/automna/agent:1",
      "line\u2028sep", "\u0007bell",
    ];
    const doc = { tricky, [":key"]: 1, "yes": "no" };
    expect(load(toYaml(doc))).toEqual(doc);
  });

  it("keeps numbers, booleans, null, empty and nested collections", () => {
    const doc = {
      n: 0, neg: -1.5, big: 1e21, t: true, f: false, none: null, emptyList: [], emptyMap: {},
      list: [1, "two", [3, [4]], { five: 5, six: [6] }, [], {}],
      nested: { a: { b: { c: ["d"] } } },
    };
    expect(load(toYaml(doc))).toEqual(doc);
    expect(load(toYaml([{ user: "alice", labels: { plan: "pro" } }]))).toEqual([{ user: "alice", labels: { plan: "pro" } }]);
    expect(toYaml([{ user: "alice", size: "cx22" }])).toBe("- user: alice\n  size: cx22\n");
  });
});
