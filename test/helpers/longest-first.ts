import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Runs the longest test files first, across both projects (longest-processing-time scheduling).
 *
 * Vitest's own order puts every `fast` file before any `slow` one (projects sort by name) and,
 * without a results cache (a clean clone, CI), orders files by size: the migration files that
 * take a minute or two started last, and the run ended with one or two workers busy and the
 * others idle. How long a file takes comes from vitest's cache when this checkout has run it,
 * else from test/file-weights.json (seconds per file from one run; `npm run test:weights` after
 * a `--reporter=json` run rewrites it), else the median weight: a new file is neither first nor last.
 */
export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const root = this.ctx.config.root;
    const recorded = readWeights(join(root, "test", "file-weights.json"));
    const median = medianOf(Object.values(recorded));
    const weight = (spec: TestSpecification): number => {
      const cached = this.ctx.cache.getTestSpecificationResult(spec)?.duration;
      if (cached !== undefined) return cached / 1000;
      return recorded[relative(root, spec.moduleId).split("\\").join("/")] ?? median;
    };
    const weights = new Map(base.map((spec) => [spec, weight(spec)]));
    // Array.prototype.sort is stable: equal weights keep vitest's order.
    return [...base].sort((a, b) => weights.get(b)! - weights.get(a)!);
  }
}

function readWeights(path: string): Record<string, number> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, number>;
  } catch {
    return {}; // no table: vitest's own order
  }
}

function medianOf(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
