import { describe, expect, it } from "vitest";
import { matchPattern } from "../../src/fleet/import-entries.js";
import { parseMapping, rowsError } from "../../src/fleet/import-mapping.js";

describe("import mapping files", () => {
  it("reads CSV with or without a header, quoted fields, comments, blank lines and a BOM, keeping line numbers", () => {
    const text = '\uFEFF# exported from the old console\nuser,provider,server,data_location\n\nalice,hetzner,42,/data\n"bob","do","7",""\ncarol , fly , "agent-carol"\n';
    expect(parseMapping(text, "f.csv")).toEqual({
      rows: [
        { line: 4, user: "alice", provider: "hetzner", id: "42", data: "/data" },
        { line: 5, user: "bob", provider: "do", id: "7" },
        { line: 6, user: "carol", provider: "fly", id: "agent-carol" },
      ],
      problems: [],
    });
    // No header: the columns are user, provider, id, data in that order.
    expect(parseMapping("dana,digitalocean,9\n", "f.csv").rows).toEqual([{ line: 1, user: "dana", provider: "digitalocean", id: "9" }]);
    // Columns in another order, by their header.
    expect(parseMapping("id,user,provider\n5,erin,hetzner\n", "f.csv").rows).toEqual([{ line: 2, user: "erin", provider: "hetzner", id: "5" }]);
  });

  it("names rows of the wrong shape by line; a header it cannot read, or no rows, makes the whole file unusable", () => {
    const { rows, problems } = parseMapping("user,provider,id\nalice,hetzner\nbob,hetzner,1,/data\n\"carol,fly,x\nok,fly,app\n", "f.csv");
    expect(rows.map((r) => r.user)).toEqual(["ok"]);
    expect(problems).toEqual([
      { line: 2, message: "2 fields, expected 3 (user,provider,id)" },
      { line: 3, message: "4 fields, expected 3 (user,provider,id)" },
      { line: 4, message: "a quoted field is not closed on its line" },
    ]);
    expect(() => parseMapping("user,provider,id,colour\n", "f.csv")).toThrow('f.csv is not a usable mapping: line 1: unknown column "colour" in the header; nothing was imported');
    expect(() => parseMapping("user,provider\n", "f.csv")).toThrow("line 1: the header has no id column");
    expect(() => parseMapping("provider,user,id,server\n", "f.csv")).toThrow("line 1: the header names a column twice");
    expect(() => parseMapping("# nothing\n\n", "f.csv")).toThrow("f.csv is not a usable mapping: it has no rows");
  });

  it("reads a JSON array, each entry's problems named with the line it starts on", () => {
    const text = '[\n  {"user": "alice", "provider": "hetzner", "id": 42},\n  "bob",\n  {"user": "carol", "provider": "fly",\n   "id": "a", "colour": "red"},\n  {"user": "dana", "provider": "do", "id": "7", "data": null}\n]';
    const { rows, problems } = parseMapping(text, "f.json");
    expect(rows).toEqual([{ line: 2, user: "alice", provider: "hetzner", id: "42" }, { line: 6, user: "dana", provider: "do", id: "7" }]);
    expect(problems).toEqual([{ line: 3, message: "entry 2 is not an object" }, { line: 4, message: 'entry 3: unknown field "colour"' }]);
    expect(() => parseMapping('{"users": []}', "f.json")).toThrow("JSON must be an array of {user, provider, id, data?} objects");
    expect(() => parseMapping("[1,", "f.json")).toThrow(/^f\.json is not a usable mapping: invalid JSON/);
  });

  it("one error for all bad rows, in line order, exit 2", () => {
    const error = rowsError("f.csv", [{ line: 9, message: "b" }, { line: 3, message: "a" }]);
    expect([error.exitCode, error.code, error.message]).toEqual([2, "bad_mapping", "f.csv has 2 bad rows; nothing was imported\n  line 3: a\n  line 9: b"]);
  });

  it("--match patterns: literal text around one {user}, which must be a valid user id", () => {
    const re = matchPattern("agent-{user}.prod");
    expect(re.exec("agent-alice.prod")?.[1]).toBe("alice");
    expect(re.exec("agent-alicexprod")).toBeNull();
    expect(re.exec("agent-Alice.prod")).toBeNull();
    expect(re.exec("agent-al-.prod")).toBeNull();
    expect(() => matchPattern("agent")).toThrow("--match must contain {user} exactly once");
    expect(() => matchPattern("{user}-{user}")).toThrow("--match must contain {user} exactly once");
  });
});
