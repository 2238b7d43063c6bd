import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SpecPatch } from "./openapi-doc.js";

/**
 * One provider API whose spec automna's traffic must satisfy: one file in `specs/` each (Koyeb and
 * the Cloudflare Sandbox bridge add theirs the same way), found by the spec conformance test.
 */
export interface ApiSpec {
  name: string;
  /** File name in ../shared/specs. */
  file: string;
  /** The environment variable that gives automna this API's base URL (the test routes it through a recorder). */
  urlEnv: string;
  /** When automna provisions agents on this API: the provider and a placement for the workflow. */
  provider?: { id: string; region: string; size: string };
  /** Known defects of the published spec, each with why it is a defect of the spec and not of automna. */
  patches: SpecPatch[];
}

/** Every spec in specs/*.ts, in file-name order. */
export async function allSpecs(): Promise<ApiSpec[]> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "specs");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
  return Promise.all(files.map(async (f) => ((await import(join(dir, f))) as { default: ApiSpec }).default));
}
