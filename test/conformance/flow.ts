import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Sandbox } from "../sandbox/helpers.js";

/**
 * A realistic flow of one official client against the sandbox: one file in `flows/` each, found by
 * clients.test.ts. A flow asserts with vitest's `expect`; a missing client is a failure naming how
 * to install it (.ci/clients.sh does), never a skip.
 */
export interface ClientFlow {
  /** The client, as a person would name it: `hcloud CLI (Debian hcloud-cli)`. */
  name: string;
  run(ctx: FlowContext): Promise<void>;
}

export interface FlowContext {
  sb: Sandbox;
  /** A fresh directory for this flow's files (removed afterwards). */
  dir: string;
}

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a client binary; a missing one fails with what to install. */
export function runClient(file: string, args: string[], env: Record<string, string>, install: string): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { PATH: process.env.PATH ?? "", HOME: env.HOME ?? process.env.HOME ?? "/tmp", ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const e = error as (NodeJS.ErrnoException & { code?: number | string }) | null;
      if (e && e.code === "ENOENT") {
        reject(new Error(`${file} is not installed: ${install} (.ci/clients.sh installs it)`));
        return;
      }
      resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The HTTP status a client call failed with, read from its error by `status`; undefined when it succeeded. */
export async function failedWith(call: Promise<unknown>, status: (error: Record<string, unknown>) => unknown): Promise<number | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    const value = status(error as Record<string, unknown>);
    return typeof value === "number" ? value : undefined;
  }
}

/** Every flow in flows/*.ts, in file-name order. */
export async function allFlows(): Promise<ClientFlow[]> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "flows");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
  return Promise.all(files.map(async (f) => ((await import(join(dir, f))) as { default: ClientFlow }).default));
}
