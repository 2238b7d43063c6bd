import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { afterEach } from "vitest";
import { main } from "../../src/cli.js";
import { createContext, type Clock, type Context } from "../../src/context.js";
import { ScriptedPrompter } from "../../src/lib/prompt.js";

/** A writable that keeps what was written and can pretend to be a terminal. */
export class MemoryStream extends Writable {
  readonly chunks: Buffer[] = [];
  isTTY: boolean;
  columns = 120;
  /** Sees each write as it happens (a test that acts on output while the command still runs). */
  onChunk: ((chunk: Buffer) => void) | undefined;
  constructor(isTTY = false) {
    super();
    this.isTTY = isTTY;
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    this.onChunk?.(Buffer.from(chunk));
    done();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
  // A terminal's cursor controls (tty.WriteStream's), which a spinner uses to redraw its line.
  cursorTo(x: number, callback?: () => void): boolean {
    return this.write(`\x1b[${x + 1}G`, callback);
  }
  clearLine(dir: -1 | 0 | 1, callback?: () => void): boolean {
    return this.write(dir < 0 ? "\x1b[1K" : dir > 0 ? "\x1b[0K" : "\x1b[2K", callback);
  }
  moveCursor(dx: number, dy: number, callback?: () => void): boolean {
    const x = dx < 0 ? `\x1b[${-dx}D` : dx > 0 ? `\x1b[${dx}C` : "";
    const y = dy < 0 ? `\x1b[${-dy}A` : dy > 0 ? `\x1b[${dy}B` : "";
    return this.write(x + y, callback);
  }
}

/** An isolated home: config, state and data directories under one temp dir. */
export interface Sandbox {
  dir: string;
  env: Record<string, string>;
  configPath: string;
  statePath: string;
  cleanup(): void;
}

export function makeHome(extraEnv: Record<string, string> = {}): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), "automna-test-"));
  const env: Record<string, string> = {
    HOME: dir,
    USER: "tester",
    XDG_CONFIG_HOME: join(dir, "config"),
    XDG_DATA_HOME: join(dir, "data"),
    PATH: process.env.PATH ?? "",
    ...extraEnv,
  };
  return {
    dir,
    env,
    configPath: join(dir, "config", "automna", "config.json"),
    statePath: join(dir, "data", "automna", "state.db"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A maker of fresh homes for a test file; each is removed after the test that made it. */
export function homesPerTest(extraEnv: Record<string, string> = {}): () => Sandbox {
  const homes: Sandbox[] = [];
  afterEach(() => {
    for (const h of homes.splice(0)) h.cleanup();
  });
  return () => {
    const h = makeHome(extraEnv);
    homes.push(h);
    return h;
  };
}

export interface RunOptions {
  env?: Record<string, string>;
  stdin?: string | Buffer;
  /** Pretend stdin/stdout/stderr are a terminal. */
  tty?: boolean;
  answers?: Record<string, unknown>;
  clock?: Clock;
  signal?: AbortSignal;
  /** Inspect or extend the context before main() runs. */
  setup?: (ctx: Context) => void;
  /** Each stdout write as it happens. */
  onStdout?: (chunk: Buffer) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  /** stdout exactly as written (binary output). */
  stdoutBytes: Buffer;
  stderr: string;
  json<T = unknown>(): T;
  prompts: string[];
}

/** Runs main() in-process, as the binary would, and captures everything. */
export async function runCli(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const stdout = new MemoryStream(options.tty);
  stdout.onChunk = options.onStdout;
  const stderr = new MemoryStream(options.tty);
  const stdin = Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]) as Readable & { isTTY?: boolean };
  stdin.isTTY = options.tty;
  const prompter = new ScriptedPrompter(options.answers ?? {});
  const ctx = createContext({
    streams: { stdout, stderr, stdin },
    env: options.env ?? {},
    prompt: prompter,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  options.setup?.(ctx);
  const code = await main(argv, ctx);
  const out = stdout.text();
  return {
    code,
    stdout: out,
    stdoutBytes: Buffer.concat(stdout.chunks),
    stderr: stderr.text(),
    json: <T>() => JSON.parse(out) as T,
    prompts: prompter.asked,
  };
}

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  #t: number;
  constructor(start = "2026-11-29T12:00:00.000Z") {
    this.#t = Date.parse(start);
  }
  now(): Date {
    return new Date(this.#t);
  }
  advance(ms: number): void {
    this.#t += ms;
  }
  set(iso: string): void {
    this.#t = Date.parse(iso);
  }
}
