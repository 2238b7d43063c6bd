#!/usr/bin/env node
// Rewrites test/file-weights.json (seconds per test file, longest first) from a vitest JSON report,
// for the LongestFirst sequencer (test/helpers/longest-first.ts):
//   npx vitest run --reporter=json --outputFile=/tmp/vitest.json && npm run test:weights -- /tmp/vitest.json
import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";

const report = process.argv[2];
if (!report) {
  console.error("usage: npm run test:weights -- <vitest JSON report>");
  process.exit(2);
}
const { testResults } = JSON.parse(readFileSync(report, "utf8"));
const weights = Object.fromEntries(
  testResults
    .map((f) => [relative(process.cwd(), f.name).split("\\").join("/"), Math.round((f.endTime - f.startTime) / 100) / 10])
    .sort((a, b) => b[1] - a[1]),
);
writeFileSync("test/file-weights.json", JSON.stringify(weights, null, 0).replace(/,"/g, ',\n"') + "\n");
console.log(`test/file-weights.json: ${testResults.length} files`);
