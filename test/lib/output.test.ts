import { describe, expect, it } from "vitest";
import { IO } from "../../src/lib/io.js";
import { renderList, type Column } from "../../src/lib/output.js";
import { MemoryStream } from "../helpers/cli.js";

interface Row { user: string; provider: string; note: string | null; price: number }
const rows: Row[] = [
  { user: "alice", provider: "hetzner", note: 'says "hi", twice', price: 3.79 },
  { user: "bob", provider: "fly", note: null, price: 10.7 },
];
const columns: Column<Row>[] = [
  { name: "user", value: (r) => r.user },
  { name: "provider", value: (r) => r.provider },
  { name: "price", value: (r) => r.price, align: "right" },
  { name: "note", value: (r) => r.note, optional: true },
];

function render(format: "table" | "json" | "ndjson" | "csv", cols?: string[], noHeader = false): string {
  const out = new MemoryStream();
  const io = new IO({ stdout: out, stderr: new MemoryStream(), stdin: process.stdin }, {});
  renderList(io, rows, columns, { format, columns: cols, noHeader });
  return out.text();
}

describe("list rendering", () => {
  it("aligns a borderless table and hides optional columns", () => {
    expect(render("table")).toBe("USER    PROVIDER   PRICE\nalice   hetzner     3.79\nbob     fly         10.7\n");
    expect(render("table", ["provider", "note"], true)).toBe('hetzner   says "hi", twice\nfly       -\n');
  });

  it("quotes CSV per RFC 4180 and leaves nulls empty", () => {
    expect(render("csv", ["user", "note"])).toBe('user,note\r\nalice,"says ""hi"", twice"\r\nbob,\r\n');
  });

  it("prints full objects as JSON and NDJSON", () => {
    expect(JSON.parse(render("json"))).toEqual(rows);
    expect(render("ndjson").trim().split("\n").map((l) => JSON.parse(l))).toEqual(rows);
  });

  it("names the valid columns when one is unknown", () => {
    expect(() => render("table", ["usr"])).toThrow('unknown column "usr"');
  });
});
