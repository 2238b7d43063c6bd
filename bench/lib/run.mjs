/* global Buffer */
// Helpers for benches that host the sandbox in their own process: the CLI runs as a child
// process, spawned asynchronously, so the sandbox keeps answering while automna waits on it
// (spawnSync would block the very event loop the sandbox serves from).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

export const bin = new URL("../../dist/bin/automna.js", import.meta.url).pathname;

/** Runs a command; resolves with its exit code and output. */
export function run(command, args, { env, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    child.stdout.on("data", (c) => out.push(c));
    child.stderr.on("data", (c) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.end(input ?? "");
  });
}

/** `automna ...` with GNU time: wall seconds and peak RSS (MB) of the whole process. */
export async function timed(env, args, input) {
  const r = await run("/usr/bin/time", ["-f", "%e %M", process.execPath, bin, ...args], { env, input });
  if (r.code !== 0) throw new Error(`automna ${args.join(" ")} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const [wall, kb] = r.stderr.trim().split("\n").at(-1).split(" ").map(Number);
  return { wall, rss: kb / 1024, stdout: r.stdout, stderr: r.stderr };
}

export async function automna(env, args, input) {
  const r = await run(process.execPath, [bin, ...args], { env, input });
  if (r.code !== 0) throw new Error(`automna ${args.join(" ")} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * The whole machine's busy CPU so far, in ms (/proc/stat: every process and the kernel, idle and
 * iowait left out); the difference of two readings is what some work cost the machine.
 */
export function machineBusyMs() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) * 10; // at 100 ticks/s
}

/** One line saying where and under what load the numbers were taken. */
export function machine() {
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  return `${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load average ${load}`;
}
