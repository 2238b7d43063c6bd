import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * What the simulated agent keeps under /data, shaped like a real agent's memory: JSON documents
 * rewritten as conversations grow (text), and append-only binary blobs (attachments, embeddings).
 * Growth is bounded by `maxBytes` so a sandbox left running does not fill the disk.
 */
export class AgentData {
  readonly #dir: string;
  readonly #maxBytes: number;
  #bytes = -1;
  #tick = 0;

  constructor(dir: string, maxBytes: number) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
  }

  /** Creates the initial files on a fresh host; a host that already has data keeps it. */
  async seed(hostId: string, seedBytes: number, now: Date): Promise<void> {
    const profile = join(this.#dir, "memory", "profile.json");
    if (await exists(profile)) return;
    await mkdir(join(this.#dir, "memory"), { recursive: true });
    await mkdir(join(this.#dir, "blobs"), { recursive: true });
    await mkdir(join(this.#dir, "notes"), { recursive: true });
    for (let i = 0; i < 4; i += 1) {
      await writeFile(join(this.#dir, "memory", `conversations-${i}.json`), `${JSON.stringify({ channel: CHANNELS[i], messages: [] }, null, 2)}\n`);
    }
    await writeFile(join(this.#dir, "notes", "README.md"), `# ${hostId}\n\nNotes the agent keeps about its user.\n`);
    await writeFile(join(this.#dir, "blobs", "blob-0.bin"), randomBytes(seedBytes));
    // The profile goes last: its presence marks a completed seed.
    await writeFile(profile, `${JSON.stringify({ host: hostId, createdAt: now.toISOString(), locale: "en", timezone: "UTC" }, null, 2)}\n`);
    this.#bytes = -1;
  }

  /**
   * One round of writes; returns a short description for the agent's log. Synchronous calls on
   * purpose: every running agent does this every few hundred milliseconds, and for writes this
   * small the promise API's thread-pool round trips cost several times the system calls (they were
   * a fifth of a migration test's sandbox CPU).
   */
  async write(now: Date): Promise<string> {
    if (this.#bytes < 0) this.#bytes = await du(this.#dir);
    const tick = this.#tick++;
    const i = tick % 4;
    const file = join(this.#dir, "memory", `conversations-${i}.json`);
    // Someone may have emptied /data under the running agent (a restore); keep writing anyway.
    mkdirSync(join(this.#dir, "memory"), { recursive: true });
    mkdirSync(join(this.#dir, "blobs"), { recursive: true });
    const doc = readJson(file);
    const messages = Array.isArray(doc.messages) ? doc.messages : [];
    messages.push({ at: now.toISOString(), role: tick % 2 ? "assistant" : "user", text: TEXTS[tick % TEXTS.length] });
    // Old messages fall off like a context window, which keeps each document bounded.
    const body = `${JSON.stringify({ channel: CHANNELS[i], messages: messages.slice(-200) }, null, 2)}\n`;
    // Written beside and renamed over, so a copy taken at any instant sees a whole document.
    writeFileSync(`${file}.tmp`, body);
    renameSync(`${file}.tmp`, file);
    if (this.#bytes >= this.#maxBytes) return `memory checkpoint conversations-${i}.json`;
    const blob = `blob-${Math.floor(tick / 16) % 4}.bin`;
    appendFileSync(join(this.#dir, "blobs", blob), randomBytes(4096));
    this.#bytes += 4096;
    return `memory checkpoint conversations-${i}.json, blobs/${blob} +4096 bytes`;
  }
}

const CHANNELS = ["discord", "telegram", "web", "email"];
const TEXTS = [
  "Remind me to call the bank on Friday.",
  "Done: reminder set for Friday 10:00.",
  "Summarise yesterday's thread about the offsite, please.",
  "The offsite moves to Lisbon; flights are booked for the 14th.",
  "Ünïcödé and emoji survive the trip: 🚀✓",
];

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

function readJson(path: string): { messages?: unknown[] } {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as { messages?: unknown[] };
  } catch {
    // A document someone replaced or removed (a restore, a test) starts over.
    return {};
  }
}

async function du(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
