import { Chalk, type ChalkInstance } from "chalk";
import type { Ora } from "ora";
import { redact } from "./redact.js";
import { terminalText } from "./terminal-text.js";

/** The streams a command talks to; tests pass their own. */
export interface Streams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** What the global flags say about output. */
export interface OutputFlags {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  debug: boolean;
  /** false for `--no-color`. */
  color: boolean;
  /** false for `--no-input`. */
  input: boolean;
}

/** A single line of progress that is a spinner on a terminal and a plain line elsewhere. */
export interface Task {
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
  /** Stops without a final line (the caller prints its own result). */
  stop(): void;
}

/** The spinner's frames (ora's "dots"), also drawn by the multi-line board ora cannot draw. */
const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * All terminal policy lives here: whether colour is on (NO_COLOR, --no-color, not a TTY),
 * whether spinners run (stderr is a TTY and not --json, --quiet or CI), whether anyone can
 * answer a prompt. Results go to stdout; progress, warnings and messages go to stderr, so
 * `--json` output is always exactly one document a script can parse.
 */
export class IO {
  readonly streams: Streams;
  readonly env: NodeJS.ProcessEnv;
  flags: OutputFlags = { json: false, quiet: false, verbose: false, debug: false, color: true, input: true };
  #chalkOut: ChalkInstance | undefined;
  #chalkErr: ChalkInstance | undefined;
  #liveLines = 0;
  /** Spinners and boards drawing now: cleared before any other stderr line, stopped by endLive(). */
  readonly #live = new Set<{ clear(): void; stop(): void }>();
  readonly #onOutputClosed: () => void;

  /** `onOutputClosed` runs when a write to stdout or stderr finds the pipe closed (EPIPE). */
  constructor(streams: Streams, env: NodeJS.ProcessEnv, onOutputClosed: () => void = () => undefined) {
    this.streams = streams;
    this.env = env;
    this.#onOutputClosed = onOutputClosed;
    for (const stream of [streams.stdout, streams.stderr]) stream.on?.("error", (error: NodeJS.ErrnoException) => this.#writeFailed(error));
  }

  #writeFailed(error: NodeJS.ErrnoException | null | undefined): void {
    if (error?.code === "EPIPE" || error?.code === "ERR_STREAM_DESTROYED") this.#onOutputClosed();
  }

  /**
   * Resolves once everything written so far has left the process, so a reader that went away is
   * known (through onOutputClosed) before the run decides its exit code.
   */
  async flush(): Promise<void> {
    await Promise.all([this.streams.stdout, this.streams.stderr].map((stream) => new Promise<void>((resolve) => {
      stream.write("", (error?: Error | null) => {
        this.#writeFailed(error as NodeJS.ErrnoException | null | undefined);
        resolve();
      });
    })));
  }

  configure(flags: Partial<OutputFlags>): void {
    this.flags = { ...this.flags, ...flags };
    this.#chalkOut = undefined;
    this.#chalkErr = undefined;
  }

  get isCI(): boolean {
    const ci = this.env.CI;
    return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
  }

  #colorFor(stream: { isTTY?: boolean }): boolean {
    if (!this.flags.color) return false;
    if (this.env.NO_COLOR !== undefined && this.env.NO_COLOR !== "") return false;
    if (this.env.FORCE_COLOR !== undefined && this.env.FORCE_COLOR !== "0") return true;
    if (this.env.TERM === "dumb") return false;
    return stream.isTTY === true;
  }

  /** Colours for text written to stdout. */
  get color(): ChalkInstance {
    this.#chalkOut ??= new Chalk({ level: this.#colorFor(this.streams.stdout) ? 1 : 0 });
    return this.#chalkOut;
  }

  /** Colours for text written to stderr. */
  get colorErr(): ChalkInstance {
    this.#chalkErr ??= new Chalk({ level: this.#colorFor(this.streams.stderr) ? 1 : 0 });
    return this.#chalkErr;
  }

  /** Someone is at a terminal who can answer a prompt. */
  get canPrompt(): boolean {
    return this.flags.input && this.streams.stdin.isTTY === true && this.streams.stderr.isTTY === true && !this.isCI;
  }

  /** Spinners and live redraws are allowed. */
  get isLive(): boolean {
    return this.streams.stderr.isTTY === true && !this.flags.json && !this.flags.quiet && !this.isCI;
  }

  get width(): number {
    return this.streams.stdout.columns ?? 100;
  }

  /** Writes a result line to stdout, without control sequences (automna's own colours aside). */
  out(line = ""): void {
    this.streams.stdout.write(`${terminalText(line, { colour: this.#colorFor(this.streams.stdout) })}\n`);
  }

  /**
   * Writes result bytes to stdout exactly as given: text automna made or already cleaned (a
   * rendered list), or a passthrough that must stay byte-exact (`lock run`'s command output).
   */
  write(text: string | Uint8Array): void {
    this.streams.stdout.write(text);
  }

  /** The one JSON document of a `--json` run. */
  json(value: unknown): void {
    this.streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** One NDJSON event line. */
  ndjson(value: unknown): void {
    this.streams.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** A human message about what happened (created, deleted...): stderr, hidden by --quiet. */
  info(message: string): void {
    if (!this.flags.quiet) this.#err(message);
  }

  /** A success message, hidden by --quiet and --json. */
  success(message: string): void {
    if (!this.flags.quiet && !this.flags.json) this.#err(`${this.colorErr.green("✓")} ${message}`);
  }

  warn(message: string): void {
    this.#err(`${this.colorErr.yellow("Warning:")} ${message}`);
  }

  /** Shown with --verbose or --debug. */
  verbose(message: string): void {
    if (this.flags.verbose || this.flags.debug) this.#err(this.colorErr.dim(message));
  }

  /** Shown with --debug only; always redacted. */
  debug(message: string): void {
    if (this.flags.debug) this.#err(this.colorErr.dim(`debug: ${message}`));
  }

  /** Writes an error block to stderr (used by the one error printer). */
  errorLine(message: string): void {
    this.#err(message);
  }

  /**
   * Stops every spinner and board and wipes what they drew, so the error or result that follows
   * starts on a clean line (Ctrl-C, a failure mid-run). The error printer calls it first.
   */
  endLive(): void {
    for (const view of [...this.#live]) view.stop();
    this.#live.clear();
    this.#clearLive();
  }

  #err(message: string): void {
    // A spinner's line is wiped before the message (it redraws itself below on its next frame).
    for (const view of this.#live) view.clear();
    this.#clearLive();
    this.streams.stderr.write(`${terminalText(redact(message), { colour: this.#colorFor(this.streams.stderr) })}\n`);
  }

  #clearLive(): void {
    if (this.#liveLines > 0) {
      this.streams.stderr.write(this.#eraseLive());
      this.#liveLines = 0;
    }
  }

  /**
   * Moves up over the live lines, blanking each (EL), and back to the first. Not "erase below"
   * (ED): tmux and screen take an ED from the top-left corner as clearing the screen and keep the
   * old frame in their scrollback.
   */
  #eraseLive(): string {
    const n = this.#liveLines;
    return n > 0 ? `\x1b[${n}A${"\x1b[2K\n".repeat(n)}\x1b[${n}A` : "";
  }

  /**
   * A progress line: an animated spinner when live, otherwise one line per update (so CI logs
   * show each step) unless --quiet or --json.
   */
  task(text: string): Task {
    if (this.isLive) return this.#spinnerTask(oneLine(text));
    const plain = !this.flags.quiet && !this.flags.json;
    if (plain) this.#err(text);
    return {
      update: (next) => plain && this.#err(next),
      succeed: (next) => plain && next !== undefined && this.#err(`${this.colorErr.green("✓")} ${next}`),
      fail: (next) => next !== undefined && this.#err(`${this.colorErr.red("✗")} ${next}`),
      stop: () => undefined,
    };
  }

  /**
   * The live form of a task: an ora spinner on stderr. ora loads with the first spinner (only
   * terminal runs have one); until it has, the task only keeps its text. Frames are coloured
   * here, so the spinner follows the same colour policy as everything else.
   */
  #spinnerTask(initial: string): Task {
    let text = initial;
    let spinner: Ora | undefined;
    let ended = false;
    const c = this.colorErr;
    void import("ora").then(({ default: ora }) => {
      if (ended) return;
      spinner = ora({
        text, stream: this.streams.stderr, isEnabled: true, discardStdin: false, hideCursor: false, color: false,
        spinner: { interval: 80, frames: FRAMES.map((f) => c.cyan(f)) },
      }).start();
    }, () => undefined);
    const view = { clear: () => spinner?.clear(), stop: () => end() };
    this.#live.add(view);
    const end = (line?: string): void => {
      ended = true;
      this.#live.delete(view);
      spinner?.stop();
      if (line !== undefined) this.#err(line);
    };
    return {
      update: (next) => {
        text = oneLine(next);
        if (spinner) spinner.text = text;
      },
      succeed: (next) => end(next === undefined ? undefined : `${c.green("✓")} ${next}`),
      fail: (next) => end(next === undefined ? undefined : `${c.red("✗")} ${next}`),
      stop: () => end(),
    };
  }

  /**
   * Progress for many items at once (users in a bulk run). Live: one redrawn line per item.
   * Otherwise: one line per change, prefixed by the item, unless --quiet or --json.
   */
  board(): ProgressBoard {
    return new ProgressBoard(this);
  }

  /**
   * Redraws the live board lines (used by ProgressBoard). Each line is cut to the terminal's
   * width as it is now (so a resize re-fits the next frame): a wrapped line would take two rows
   * and the next frame's cursor-up would leave its first row behind.
   */
  drawLive(lines: string[]): void {
    const stderr = this.streams.stderr;
    let text = this.#eraseLive();
    const colour = this.#colorFor(stderr);
    const width = Math.max(10, (stderr.columns ?? 80) - 1);
    text += lines.map((l) => `${fitWidth(terminalText(l, { colour, oneLine: true }), width)}\n`).join("");
    stderr.write(text);
    this.#liveLines = lines.length;
  }

  /** A board drawing now (see endLive). */
  track(view: { clear(): void; stop(): void }): void {
    this.#live.add(view);
  }

  untrack(view: { clear(): void; stop(): void }): void {
    this.#live.delete(view);
  }

  /** Leaves the live board's last frame on screen. */
  releaseLive(): void {
    this.#liveLines = 0;
  }
}

type ItemState = "running" | "done" | "failed";

/** A progress text (often a provider's or an agent's words) as one clean line. */
function oneLine(text: string): string {
  return terminalText(text, { oneLine: true });
}

/** A line cut to `width` visible characters, ending in "…" when cut; colour codes kept and closed. */
export function fitWidth(line: string, width: number): string {
  let visible = 0;
  let out = "";
  // eslint-disable-next-line no-control-regex
  for (const part of line.split(/(\x1b\[[0-9;]*m)/)) {
    if (part.startsWith("\x1b[")) {
      out += part;
      continue;
    }
    const chars = [...part];
    if (visible + chars.length > width) {
      out += `${chars.slice(0, Math.max(0, width - visible - 1)).join("")}…`;
      return out.includes("\x1b[") ? `${out}\x1b[0m` : out;
    }
    out += part;
    visible += chars.length;
  }
  return out;
}

/** Per-item progress lines; see IO.board(). */
export class ProgressBoard {
  readonly #io: IO;
  readonly #items = new Map<string, { text: string; state: ItemState }>();
  #timer: NodeJS.Timeout | undefined;
  #frame = 0;
  readonly #maxLive = 20;

  constructor(io: IO) {
    this.#io = io;
    if (io.isLive) {
      this.#timer = setInterval(() => this.#draw(), 100);
      this.#timer.unref();
      io.track(this);
    }
  }

  /** Its lines are wiped by the io layer itself (drawLive's count): nothing to do here. */
  clear(): void {}

  stop(): void {
    this.close();
  }

  update(item: string, text: string): void {
    this.#set(item, text, "running");
  }

  done(item: string, text: string): void {
    this.#set(item, text, "done");
  }

  fail(item: string, text: string): void {
    this.#set(item, text, "failed");
  }

  #set(item: string, raw: string, state: ItemState): void {
    // An item's text is often a provider's or an agent's message: no control sequences at all.
    const text = oneLine(raw);
    this.#items.set(item, { text, state });
    const io = this.#io;
    if (io.isLive) return;
    if (io.flags.quiet || io.flags.json) {
      if (state === "failed") io.errorLine(`${item}: ${text}`);
      return;
    }
    const mark = state === "done" ? `${io.colorErr.green("✓")} ` : state === "failed" ? `${io.colorErr.red("✗")} ` : "";
    io.errorLine(`${mark}${item}: ${text}`);
  }

  #draw(): void {
    const io = this.#io;
    const c = io.colorErr;
    this.#frame++;
    const running = [...this.#items].filter(([, v]) => v.state === "running");
    const finished = [...this.#items].filter(([, v]) => v.state !== "running");
    const shown = running.slice(0, this.#maxLive).map(([k, v]) => `${c.cyan(FRAMES[this.#frame % FRAMES.length])} ${k}: ${v.text}`);
    if (running.length > this.#maxLive) shown.push(c.dim(`  … and ${running.length - this.#maxLive} more running`));
    const done = finished.filter(([, v]) => v.state === "done").length;
    const failed = finished.length - done;
    shown.push(c.dim(`  ${done} done, ${failed} failed, ${running.length} running`));
    io.drawLive(shown);
  }

  /** Final frame: every failed item stays visible. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    const io = this.#io;
    if (!io.isLive || this.#timer === undefined) return;
    this.#timer = undefined;
    io.untrack(this);
    io.drawLive([]);
    io.releaseLive();
  }
}
