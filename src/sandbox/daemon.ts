import { spawn } from "node:child_process";
import { existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, closeSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SandboxProvider } from "./util.js";

/** Written by a running sandbox process so `status` and `down` can find it. */
export const RUN_FILE = "sandbox.json";
export const LOG_FILE = "sandbox.log";

export interface RunInfo {
  pid: number;
  dir: string;
  urls: Record<SandboxProvider | "admin", string> & { s3?: string; cloudflare?: string };
  /** The Cloudflare stand-in's zone (for the profile's cloudflare.zoneId). */
  cloudflareZoneId?: string;
  startedAt: string;
  detached: boolean;
  /** The simulated hosts' SSH port (absent in run files of older versions). */
  sshPort?: number;
}

export function writeRunInfo(dir: string, info: RunInfo): void {
  const file = join(dir, RUN_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function readRunInfo(dir: string): RunInfo | null {
  const file = join(dir, RUN_FILE);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as RunInfo;
  } catch {
    return null;
  }
}

/** Removes the run file if it still names this pid (a newer sandbox may have replaced it). */
export function removeRunInfo(dir: string, pid: number): void {
  const info = readRunInfo(dir);
  if (info && info.pid !== pid) return;
  rmSync(join(dir, RUN_FILE), { force: true });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  // A detached sandbox that has exited stays a zombie until init reaps it; on Linux that
  // shows in /proc as state Z, and such a process is gone for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** The built CLI entry point (dist/bin/automna.js) of this installation. */
export function cliEntry(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "automna") {
          const entry = join(dir, "dist", "bin", "automna.js");
          if (existsSync(entry)) return entry;
          throw new Error(`automna is not built (${entry} is missing); run "npm run build"`);
        }
      } catch (error) {
        if (error instanceof Error && error.message.includes("not built")) throw error;
      }
    }
    dir = dirname(dir);
  }
  throw new Error("cannot find the automna installation to start the sandbox in the background");
}

/** Starts `automna <args>` detached from this process, its output appended to the sandbox log. */
export function spawnDetached(dir: string, args: string[], env: NodeJS.ProcessEnv): number {
  const log = openSync(join(dir, LOG_FILE), "a", 0o600);
  try {
    const child = spawn(process.execPath, [cliEntry(), ...args], { detached: true, stdio: ["ignore", log, log], env });
    child.unref();
    if (child.pid === undefined) throw new Error("could not start the sandbox process");
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** The last lines of the sandbox log (for an error when a background start fails). */
export function logTail(dir: string, lines = 15): string {
  const file = join(dir, LOG_FILE);
  if (!existsSync(file)) return "";
  return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}
