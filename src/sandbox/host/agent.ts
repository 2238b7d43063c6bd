import { randomInt } from "node:crypto";
import { EventEmitter } from "node:events";
import { appendFileSync, renameSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { AgentData } from "./agent-data.js";
import { HealthServer, type HealthEndpoint } from "./agent-health.js";
import { formatTimestamp, readLog, type LogEntry, type LogQuery } from "./agent-log.js";
import { loadRecord, NEVER, newRecord, saveRecord, type ContainerRecord } from "./container-record.js";

/** How busy the simulated agent is. Defaults suit a sandbox left running; tests go faster. */
export interface AgentOptions {
  /** A log line every this many ms (default 1000). */
  logIntervalMs?: number;
  /** A round of data writes (a JSON document rewritten, 4 KiB appended to a blob) every this many ms (default 5000). */
  dataWriteIntervalMs?: number;
  /** Random bytes in the first blob of a fresh host (default 256 KiB). */
  seedBytes?: number;
  /** Blobs stop growing past this much data (default 8 MiB). */
  maxDataBytes?: number;
  /** The log rotates (one old file kept, like Docker's json-file max-file=2) past this size (default 8 MiB). */
  maxLogBytes?: number;
  /** The image name `docker ps`/`inspect` show (default ghcr.io/automna/agent:latest). */
  image?: string;
}

export const CONTAINER_NAME = "automna-agent";

/** What `docker run` gives the container. */
export interface RunSpec {
  image: string;
  /** `K=V` (or a bare `K`), as Docker keeps `Config.Env`. */
  env: string[];
}

export interface AgentInit {
  hostId: string;
  dataDir: string;
  logFile: string;
  stateFile: string;
  options: AgentOptions;
  health: HealthEndpoint | null;
  now: () => Date;
  onError: (error: Error) => void;
}

/**
 * The agent container of one host, simulated inside the sandbox process: timers (unref'd) append
 * log lines and write /data files while it runs, and an HTTP server answers the health check.
 * Stopped, it writes nothing and its health port refuses connections, as a stopped container's
 * published port does. One object per host and no child process, so a hundred hosts stay cheap.
 */
export class SimAgent {
  readonly #init: AgentInit;
  readonly #data: AgentData;
  readonly #events = new EventEmitter().setMaxListeners(0);
  #record: ContainerRecord | undefined;
  /** `Config.Env` of the last `docker run` in this process (values in memory only, never on disk). */
  #env: string[] | undefined;
  #running = false;
  #pid = 0;
  #timers: NodeJS.Timeout[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  #lifecycle: Promise<unknown> = Promise.resolve();
  #lastNs = 0n;
  #seq = 0;
  #logBytes = 0;
  readonly #health: HealthServer | undefined;

  constructor(init: AgentInit) {
    this.#init = init;
    this.#data = new AgentData(init.dataDir, init.options.maxDataBytes ?? 8 * 1024 * 1024);
    this.#health = init.health ? new HealthServer(init.health) : undefined;
  }

  get running(): boolean {
    return this.#running;
  }

  /** The health endpoint's port while running. */
  get healthPort(): number | undefined {
    return this.#health?.port;
  }

  get image(): string {
    return this.#record?.image ?? this.#init.options.image ?? "ghcr.io/automna/agent:latest";
  }

  /** False after `docker rm`, until the next `docker run`. */
  get exists(): boolean {
    return this.#record?.removed !== true;
  }

  /**
   * Loads the container record and seeds /data; starts the agent unless it was `docker stop`ped
   * (or `force`), or the machine is `held` (it runs another command instead of the agent).
   */
  async boot(force: boolean, held = false): Promise<void> {
    await mkdir(dirname(this.#init.logFile), { recursive: true });
    await mkdir(this.#init.dataDir, { recursive: true });
    this.#record = await loadRecord(this.#init.stateFile, this.#init.hostId, this.#init.now());
    this.#logBytes = (await stat(this.#init.logFile).catch(() => ({ size: 0 }))).size;
    const last = (await readLog(this.#logFiles(), { tail: 1 }))[0];
    this.#seq = Number(/seq=(\d+)/.exec(last?.line ?? "")?.[1] ?? 0);
    await this.#data.seed(this.#init.hostId, this.#init.options.seedBytes ?? 256 * 1024, this.#init.now());
    if (!held && !this.#record.removed && (force || !this.#record.manuallyStopped)) await this.start(false);
  }

  /** Starts the agent; false when it was already running. `manual` = `docker start`/`restart`. */
  start(manual: boolean): Promise<boolean> {
    return this.#serial(() => this.#start(manual));
  }

  /**
   * Stops the agent: a last log line, then nothing more is written once this resolves. `manual`
   * (`docker stop`) is remembered across sandbox restarts; a power-off is not.
   */
  stop(manual: boolean): Promise<boolean> {
    return this.#serial(() => this.#stop(manual));
  }

  /**
   * `docker rm [-f]`: "running" when it runs and `force` is not given (Docker refuses), "missing"
   * when there is no container. The agent's log and /data stay: they are the host's.
   */
  remove(force: boolean): Promise<"removed" | "running" | "missing"> {
    return this.#serial(async () => {
      if (!this.exists) return "missing";
      if (this.#running && !force) return "running";
      await this.#stop(false);
      this.#requireRecord().removed = true;
      await this.#saveRecord();
      return "removed";
    });
  }

  /** `docker run -d`: a new container (new id, image and env) of the same agent; false when one exists. */
  run(spec: RunSpec): Promise<boolean> {
    return this.#serial(async () => {
      if (this.exists) return false;
      const envNames = spec.env.map((e) => e.split("=")[0] ?? e);
      this.#record = newRecord(this.#init.hostId, this.#init.now(), { image: spec.image, envNames });
      this.#env = spec.env;
      await this.#start(true);
      return true;
    });
  }

  // Two `docker start`s (or a stop racing a start) must not interleave their awaits.
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#lifecycle.then(fn);
    this.#lifecycle = next.catch(() => undefined);
    return next;
  }

  async #start(manual: boolean): Promise<boolean> {
    const record = this.#requireRecord();
    if (this.#running) return false;
    await this.#health?.open(() => ({ status: "ok", host: this.#init.hostId, seq: this.#seq }));
    this.#running = true;
    this.#pid = randomInt(1000, 60_000);
    record.startedAt = this.#init.now().toISOString();
    if (manual) record.manuallyStopped = false;
    else if (record.finishedAt !== NEVER) record.restartCount += 1;
    await this.#saveRecord();
    await this.log(`level=info component=gateway msg="automna agent starting" image=${this.image}`);
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => {
        if (this.#running) void this.#enqueue(fn);
      }, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.#init.options.logIntervalMs ?? 1000, () => this.#append(this.#nextMessage()));
    every(this.#init.options.dataWriteIntervalMs ?? 5000, async () => {
      const what = await this.#data.write(this.#init.now());
      return this.#append(`level=info component=memory msg="${what}"`);
    });
    return true;
  }

  async #stop(manual: boolean): Promise<boolean> {
    const record = this.#requireRecord();
    if (!this.#running) {
      if (manual && !record.manuallyStopped) {
        record.manuallyStopped = true;
        await this.#saveRecord();
      }
      return false;
    }
    // Not running first, so no timer queues a write behind the last line.
    this.#running = false;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.log('level=info component=gateway msg="received SIGTERM, closing websockets and shutting down"');
    await this.#health?.close();
    record.finishedAt = this.#init.now().toISOString();
    record.exitCode = 0;
    record.manuallyStopped = manual;
    await this.#saveRecord();
    this.#events.emit("stopped");
    return true;
  }

  /** Appends a log line now (serialised with the agent's own writes) and returns the entry. */
  log(message: string): Promise<LogEntry> {
    return this.#enqueue(() => this.#append(message));
  }

  readLogs(query: LogQuery): Promise<LogEntry[]> {
    return readLog(this.#logFiles(), query);
  }

  /**
   * Calls `onEntry` for every entry appended from now on and `onStopped` when the agent stops.
   * Returns the unsubscribe function.
   */
  subscribe(onEntry: (e: LogEntry) => void, onStopped: () => void): () => void {
    this.#events.on("entry", onEntry);
    this.#events.on("stopped", onStopped);
    return () => {
      this.#events.off("entry", onEntry);
      this.#events.off("stopped", onStopped);
    };
  }

  /** Docker's view of the container, for `inspect` and `ps`. */
  describe(): { id: string; createdAt: string; startedAt: string; finishedAt: string; exitCode: number; restartCount: number; running: boolean; pid: number; image: string; env: string[] } {
    const r = this.#requireRecord();
    // After a sandbox restart only the names are known.
    const env = this.#env ?? r.envNames ?? [];
    return { id: r.id, createdAt: r.createdAt, startedAt: r.startedAt, finishedAt: r.finishedAt, exitCode: r.exitCode, restartCount: r.restartCount, running: this.#running, pid: this.#running ? this.#pid : 0, image: this.image, env };
  }

  /** The log files, oldest first (the rotated one may not exist). */
  logFiles(): string[] {
    return this.#logFiles();
  }

  #logFiles(): string[] {
    return [`${this.#init.logFile}.1`, this.#init.logFile];
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn);
    this.#chain = next.catch((error: unknown) => this.#init.onError(error as Error));
    return next;
  }

  async #append(message: string): Promise<LogEntry> {
    // Strictly increasing timestamps, so `--since <last seen>` plus dropping equal times resumes exactly.
    const nowNs = BigInt(this.#init.now().getTime()) * 1_000_000n;
    this.#lastNs = nowNs > this.#lastNs ? nowNs : this.#lastNs + 1n;
    this.#seq += 1;
    const entry = { time: formatTimestamp(this.#lastNs), line: `${message} seq=${this.#seq}` };
    const text = `${entry.time} ${entry.line}\n`;
    // Synchronous, like the agent's data writes (agent-data.ts): a line every few hundred ms per agent.
    appendFileSync(this.#init.logFile, text);
    this.#logBytes += Buffer.byteLength(text);
    if (this.#logBytes > (this.#init.options.maxLogBytes ?? 8 * 1024 * 1024)) {
      renameSync(this.#init.logFile, `${this.#init.logFile}.1`);
      this.#logBytes = 0;
    }
    this.#events.emit("entry", entry);
    return entry;
  }

  #nextMessage(): string {
    const n = this.#seq + 1;
    switch (n % 4) {
      case 0: return `level=info component=discord msg="websocket heartbeat ack" latency_ms=${20 + (n % 37)}`;
      case 1: return `level=info component=telegram msg="long poll ok" updates=${n % 3}`;
      case 2: return `level=info component=web msg="websocket clients" count=${n % 5}`;
      default: return `level=debug component=gateway msg="tick" uptime_s=${Math.round((this.#init.now().getTime() - Date.parse(this.#requireRecord().startedAt)) / 1000)}`;
    }
  }

  #requireRecord(): ContainerRecord {
    if (!this.#record) throw new Error("agent not booted");
    return this.#record;
  }

  #saveRecord(): Promise<void> {
    return saveRecord(this.#init.stateFile, this.#requireRecord());
  }
}
