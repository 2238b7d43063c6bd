import { createHash, randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";

/** Docker's "never" time (a container not yet started or stopped). */
export const NEVER = "0001-01-01T00:00:00Z";

/** What survives a sandbox restart, like Docker's own container record (`.host/agent.json`). */
export interface ContainerRecord {
  id: string;
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  /** Stopped with `docker stop`: stays stopped when the sandbox restarts (a power cycle still starts it). */
  manuallyStopped: boolean;
  restartCount: number;
  /** `docker rm`: no container until the next `docker run`. */
  removed?: boolean;
  /** The image of the last `docker run` (the host's default before one). */
  image?: string;
  /**
   * The environment variable NAMES of the last `docker run`. Names only: the values may be
   * secrets, and this file is in the sandbox's state directory.
   */
  envNames?: string[];
}

export function newRecord(hostId: string, now: Date, extra: Pick<ContainerRecord, "image" | "envNames"> = {}): ContainerRecord {
  const createdAt = now.toISOString();
  // A re-created container gets a new id, as `docker run` gives one.
  const id = createHash("sha256").update(`${hostId}/${createdAt}/${randomBytes(8).toString("hex")}`).digest("hex");
  return { id, createdAt, startedAt: NEVER, finishedAt: NEVER, exitCode: 0, manuallyStopped: false, restartCount: 0, ...extra };
}

export async function loadRecord(file: string, hostId: string, now: Date): Promise<ContainerRecord> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as ContainerRecord;
  } catch {
    return newRecord(hostId, now);
  }
}

export async function saveRecord(file: string, record: ContainerRecord): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(record));
  await rename(`${file}.tmp`, file);
}
