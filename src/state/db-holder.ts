import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { basename, resolve } from "node:path";

/**
 * Which other processes have a database file open, so "the state database is locked" can name
 * them. SQLite does not record who holds its write lock; on Linux /proc tells who has the file
 * open, which is the useful answer. Elsewhere this returns nothing and the message stays generic.
 */
export function findDatabaseHolders(dbPath: string): { pid: number; command: string }[] {
  const target = resolve(dbPath);
  const wanted = new Set([target, `${target}-wal`, `${target}-shm`]);
  const holders: { pid: number; command: string }[] = [];
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return holders;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        return wanted.has(readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    let command = "";
    try {
      // Paths shortened to their last part: "node automna.js migrate --all" says enough.
      command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean)
        .map((arg) => (arg.startsWith("/") ? basename(arg) : arg)).join(" ");
    } catch {
      /* process ended */
    }
    holders.push({ pid: Number(pid), command });
  }
  return holders;
}
