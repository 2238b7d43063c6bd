import { AutomnaError, isAbortError } from "../lib/errors.js";
import { sleep } from "../lib/rate-budget.js";
import type { ProviderRemote } from "../providers/types.js";
import { AGENT_CONTAINER } from "../providers/vm/agent-container.js";
import { LineSplitter } from "./lines.js";
import { DockerTextStream } from "./raw-lines.js";
import { normalizeTime, parseDockerLine, ResumePoint, type LogLine } from "./log-lines.js";
import { describeTarget } from "./run.js";
import { diagnose, RemoteAccessError, spawnSsh, sshArgvFor, type SshTarget } from "./ssh.js";
import { ensurePinned, type SshSettings, type Target } from "./target.js";

/** What to read: `since` as Docker takes it (`600s` relative to the host's clock, or RFC 3339) and as a fixed-width time. */
export interface LogQuery {
  since?: { docker: string; at: string } | undefined;
  /** Last N lines per user. */
  tail?: number | undefined;
}

/** Receives lines in time order; a returned promise means "slow down" (a full stdout pipe). */
export type Emit = (lines: LogLine[]) => void | Promise<void>;

/** Receives one user's lines as the bytes to print (text only, no times): the fast path for one user. */
export type EmitText = (bytes: Buffer, lines: number) => void | Promise<void>;

/** One user's log: what exists now, then (follow) what comes, resuming after drops. */
export interface LogSource {
  readonly target: Target;
  /** `text`: where a source that can deliver plain lines as bytes sends them instead (see EmitText). */
  backlog(emit: Emit, text?: EmitText): Promise<void>;
  /** Until the signal aborts; throws when the source is lost for good. */
  follow(emit: Emit, text?: EmitText): Promise<void>;
}

/** Reconnect/poll backoff, as flyctl's logs poller: 64 ms doubling to 4 s; 10 failures in a row give up. */
const BACKOFF_MIN = 64;
const BACKOFF_MAX = 4000;
const GIVE_UP_AFTER = 10;
/** Failures no retry can fix. */
const FATAL = new Set(["host_key_changed", "host_key_unknown", "ssh_auth"]);

/** `docker logs --timestamps` over SSH (Hetzner, DigitalOcean). */
export class SshLogSource implements LogSource {
  readonly target: Target;
  readonly #t: SshTarget;
  readonly #query: LogQuery;
  readonly #env: NodeJS.ProcessEnv;
  readonly #signal: AbortSignal;
  readonly #resume = new ResumePoint();

  constructor(target: Target, settings: SshSettings, query: LogQuery, env: NodeJS.ProcessEnv, signal: AbortSignal) {
    this.target = target;
    this.#t = { user: target.user, address: target.address!, settings };
    this.#query = query;
    this.#env = env;
    this.#signal = signal;
  }

  #argv(follow: boolean): string[] {
    const since = this.#resume.since ?? this.#query.since?.docker;
    // Once a line was seen, resume from its time; before that, the user's own query.
    const tail = this.#resume.since === undefined ? this.#query.tail : undefined;
    const command = ["docker", "logs", "--timestamps", ...(follow ? ["--follow"] : []), ...(since ? ["--since", since] : []), ...(tail !== undefined ? ["--tail", String(tail)] : []), AGENT_CONTAINER];
    return sshArgvFor(this.#t, { command, tty: false, logLevel: "QUIET" });
  }

  /** One `docker logs` run; returns the exit code, lines delivered and docker's own complaints. */
  async #run(follow: boolean, emit: Emit, text?: EmitText): Promise<{ exitCode: number; lines: number; errors: string }> {
    await ensurePinned(this.#t.settings, this.#t.address, this.target.instance);
    const { user, instance } = this.target;
    let lines = 0;
    let errors = "";
    const provider = instance.provider;
    const take = (raw: string[], out: LogLine[]): void => {
      for (const r of raw) {
        // Docker's own fixed-width time is the common case: no intermediate object per line.
        let time: string;
        let line: string;
        if (r.length > 30 && r.charCodeAt(30) === 32 && r.charCodeAt(29) === 90 && r.charCodeAt(19) === 46 && r.charCodeAt(10) === 84 && r.charCodeAt(4) === 45) {
          time = r.slice(0, 30);
          line = r.slice(31);
        } else {
          const parsed = parseDockerLine(r);
          if (!parsed) {
            if (r.trim()) errors = `${errors}${r}\n`.slice(-2000);
            continue;
          }
          ({ time, line } = parsed);
        }
        if (this.#resume.accept(time, line)) out.push({ user, provider, time, line });
      }
    };
    const out = new LineSplitter();
    const err = new LineSplitter();
    const push = (batch: LogLine[]): void | Promise<void> => {
      if (batch.length === 0) return;
      lines += batch.length;
      return emit(batch);
    };
    const bytes = text ? new DockerTextStream(this.#resume, (l) => (errors = `${errors}${l}\n`.slice(-2000))) : undefined;
    const pushText = (r: { bytes: Buffer; lines: number }): void | Promise<void> => {
      if (r.lines === 0) return;
      lines += r.lines;
      return text!(r.bytes, r.lines);
    };
    const res = await spawnSsh(this.#argv(follow), {
      env: this.#env, signal: this.#signal,
      onStdout: (c) => {
        if (bytes) return pushText(bytes.push(c));
        const batch: LogLine[] = [];
        take(out.push(c), batch);
        return push(batch);
      },
      onStderr: (c) => {
        const batch: LogLine[] = [];
        take(err.push(c), batch);
        void push(batch);
      },
    });
    if (bytes) await pushText(bytes.end());
    const rest: LogLine[] = [];
    take([...out.end(), ...err.end()], rest);
    await push(rest);
    return { exitCode: res.exitCode, lines, errors: errors.trim() };
  }

  async #failure(exitCode: number, errors: string): Promise<RemoteAccessError> {
    const what = describeTarget(this.target);
    if (exitCode === 255) return (await diagnose(this.#t, what, this.#env, this.#signal)) ?? new RemoteAccessError(`docker logs on ${what} exited 255`, { code: "logs_failed" });
    return new RemoteAccessError(`docker logs failed on ${what} (exit ${exitCode})${errors ? `: ${errors.split("\n").at(-1)}` : ""}`, { code: "logs_failed" });
  }

  async backlog(emit: Emit, text?: EmitText): Promise<void> {
    const res = await this.#run(false, emit, text);
    if (res.exitCode !== 0) throw await this.#failure(res.exitCode, res.errors);
  }

  async follow(emit: Emit, text?: EmitText): Promise<void> {
    let delay = BACKOFF_MIN;
    let failures = 0;
    for (;;) {
      this.#resume.reconnect();
      let res: { exitCode: number; lines: number; errors: string };
      try {
        res = await this.#run(true, emit, text);
      } catch (error) {
        if (isAbortError(error) || this.#signal.aborted) return;
        throw error;
      }
      if (this.#signal.aborted) return;
      if (res.lines > 0) {
        failures = 0;
        delay = BACKOFF_MIN;
      } else if (res.exitCode !== 0) {
        // Nothing came and the run failed: find out why before trying again.
        const failure = await this.#failure(res.exitCode, res.errors).catch((e: unknown) => {
          if (isAbortError(e)) return undefined;
          throw e;
        });
        if (!failure || this.#signal.aborted) return;
        if (FATAL.has(failure.code) || ++failures >= GIVE_UP_AFTER) throw failure;
      }
      // `docker logs -f` also ends when the container stops; its restart policy brings it back.
      try {
        await sleep(delay, this.#signal);
      } catch {
        return;
      }
      delay = Math.min(BACKOFF_MAX, delay * 2);
    }
  }
}

/** The provider's log API, polled with its cursor (Fly's `next_token`), or followed through its live stream (Koyeb's tail WebSocket). */
export class ApiLogSource implements LogSource {
  readonly target: Target;
  readonly #remote: ProviderRemote;
  readonly #query: LogQuery;
  readonly #signal: AbortSignal;
  #cursor: string | undefined;
  /** For a stream follow: the lines already shown, and where the backlog began (before any line). */
  readonly #resume = new ResumePoint();
  #backlogStart = "";

  constructor(target: Target, remote: ProviderRemote, query: LogQuery, signal: AbortSignal) {
    this.target = target;
    this.#remote = remote;
    this.#query = query;
    this.#signal = signal;
  }

  #lines(entries: { time: string; line: string }[]): LogLine[] {
    const since = this.#query.since?.at;
    const { user, instance } = this.target;
    const out: LogLine[] = [];
    for (const e of entries) {
      const time = normalizeTime(e.time);
      if (!since || time >= since) out.push({ user, provider: instance.provider, time, line: e.line });
    }
    return out;
  }

  /** The API has no since/tail: read to the end, filter and cut here. */
  async backlog(emit: Emit): Promise<void> {
    const all: LogLine[] = [];
    this.#backlogStart = new Date().toISOString();
    for (;;) {
      const page = await this.#remote.logs(this.target.instance, this.#cursor);
      this.#cursor = page.cursor;
      if (page.entries.length === 0) break;
      for (const e of page.entries) this.#resume.note(normalizeTime(e.time), e.line);
      all.push(...this.#lines(page.entries));
      if (this.#query.tail !== undefined && all.length > this.#query.tail * 4 + 1000) all.splice(0, all.length - this.#query.tail);
    }
    const tail = this.#query.tail;
    await emit(tail === undefined ? all : tail === 0 ? [] : all.slice(-tail));
  }

  async follow(emit: Emit): Promise<void> {
    if (this.#remote.tail) return this.#followStream(this.#remote.tail.bind(this.#remote), emit);
    let delay = BACKOFF_MIN;
    let failures = 0;
    for (;;) {
      if (this.#signal.aborted) return;
      try {
        const page = await this.#remote.logs(this.target.instance, this.#cursor);
        this.#cursor = page.cursor;
        failures = 0;
        if (page.entries.length > 0) {
          await emit(this.#lines(page.entries));
          delay = BACKOFF_MIN;
          // More may be waiting behind a full page: ask again at once.
          continue;
        }
      } catch (error) {
        if (isAbortError(error) || this.#signal.aborted) return;
        if (!(error instanceof AutomnaError) || ++failures >= GIVE_UP_AFTER) throw error;
      }
      try {
        await sleep(delay, this.#signal);
      } catch {
        return;
      }
      delay = Math.min(BACKOFF_MAX, delay * 2);
    }
  }
  /**
   * The provider's live stream: each connection starts at the newest line shown (inclusive), and
   * the resume point drops what was already shown, so a dropped stream reconnects with backoff
   * without duplicates or gaps; 10 failed connections in a row give up.
   */
  async #followStream(tail: NonNullable<ProviderRemote["tail"]>, emit: Emit): Promise<void> {
    let delay = BACKOFF_MIN;
    let failures = 0;
    // Lines are written in arrival order; a slow stdout queues them (a WebSocket cannot be paused).
    let writing: Promise<void> = Promise.resolve();
    for (;;) {
      if (this.#signal.aborted) return;
      this.#resume.reconnect();
      let received = 0;
      try {
        await tail(this.target.instance, this.#resume.since ?? this.#backlogStart, (entries) => {
          const fresh = this.#lines(entries.filter((e) => this.#resume.accept(normalizeTime(e.time), e.line)));
          received += fresh.length;
          if (fresh.length) writing = writing.then(() => emit(fresh));
        }, this.#signal);
        await writing;
      } catch (error) {
        if (isAbortError(error) || this.#signal.aborted) return;
        if (!(error instanceof AutomnaError) || ++failures >= GIVE_UP_AFTER) throw error;
      }
      if (this.#signal.aborted) return;
      if (received > 0) {
        failures = 0;
        delay = BACKOFF_MIN;
      }
      try {
        await sleep(delay, this.#signal);
      } catch {
        return;
      }
      delay = Math.min(BACKOFF_MAX, delay * 2);
    }
  }
}
