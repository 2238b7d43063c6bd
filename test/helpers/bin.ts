import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { execa, type ResultPromise } from "execa";
import { budget, QUIET_MS } from "./budget.js";

/** The built CLI (npm test builds first). */
export const BIN = resolve(import.meta.dirname, "../../dist/bin/automna.js");

/**
 * Runs the built CLI. It is killed (exit code undefined, `timedOut`) once the budget for `quietMs`
 * of work runs out, so a hung run fails with its own stderr rather than as a test timeout.
 */
export function automna(args: string[], env: Record<string, string>, options: { quietMs?: number } = {}) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build (npm test does)`);
  return execa(process.execPath, [BIN, ...args], { env, extendEnv: false, reject: false, timeout: budget(options.quietMs ?? QUIET_MS.binaryRun) });
}

export interface ServerProcess {
  url: string;
  proc: ResultPromise;
  stderr(): string;
}

/** `automna state serve` as its own process on a free loopback port (or `listen`); resolves once it listens. */
export async function spawnServer(db: string, env: Record<string, string>, extra: string[] = [], listen = "127.0.0.1:0"): Promise<ServerProcess> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build (npm test does)`);
  const proc = execa(process.execPath, [BIN, ...extra, "state", "serve", "--db", db, "--listen", listen], { env, extendEnv: false, reject: false });
  let err = "";
  const url = await new Promise<string>((ok, fail) => {
    proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /listening on (\S+)/.exec(err);
      if (m) ok(m[1]!);
    });
    void proc.then((r) => fail(new Error(`state serve exited ${r.exitCode}: ${err}`)));
  });
  return { url, proc, stderr: () => err };
}
