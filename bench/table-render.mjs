// Why lists are drawn by lib/output.ts's formatTable and not cli-table3: both render the same
// borderless `automna list` table of N rows, side by side, median of 5 renders each.
// Usage: npm run build && npm install --no-save cli-table3@0.6.5 && node bench/table-render.mjs
// (cli-table3 is not a dependency any more; the install is for this comparison only.)
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { formatTable } from "../dist/src/lib/output.js";
import { median } from "./lib/run.mjs";

const { default: Table } = await import("cli-table3");
const none = { top: "", "top-mid": "", "top-left": "", "top-right": "", bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "", left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "   " };
const headers = ["USER", "PROVIDER", "REGION", "SIZE", "STATUS", "ADDRESS", "MONTHLY", "CREATED"];
const row = (i) => [`user-${i}`, ["hetzner", "fly", "digitalocean"][i % 3], "fsn1", "cx22", "running", `10.0.${i >> 8}.${i & 255}`, "4.29 EUR", "2026-11-29 12:00:00"];

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, median of 5 renders`);
console.log("| rows | formatTable | cli-table3 | ratio |\n|---|---|---|---|");
for (const n of [100, 1000, 10000]) {
  const rows = Array.from({ length: n }, (_, i) => row(i));
  const ours = [];
  const theirs = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    formatTable(headers, rows).join("\n");
    const t1 = performance.now();
    const table = new Table({ head: headers, chars: none, style: { head: [], border: [], "padding-left": 0, "padding-right": 0 } });
    for (const r of rows) table.push(r);
    table.toString();
    const t2 = performance.now();
    ours.push(t1 - t0);
    theirs.push(t2 - t1);
    // 10,000 rows take cli-table3 about a minute: one render says enough.
    if (t2 - t1 > 20_000) break;
  }
  console.log(`| ${n} | ${median(ours).toFixed(1)} ms | ${median(theirs).toFixed(1)} ms | ${(median(theirs) / median(ours)).toFixed(0)}x |`);
}
