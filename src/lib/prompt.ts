import { CancelledError, UsageError } from "./errors.js";
import type { IO } from "./io.js";
import { terminalText } from "./terminal-text.js";

export interface Choice<T extends string = string> {
  name: string;
  value: T;
  description?: string;
}

interface Base {
  message: string;
  /** The flag that answers this question without a prompt, named in the error when nobody can answer. */
  flag: string;
}

/**
 * Questions for a person at a terminal. When nobody can answer (no TTY, --no-input, CI) every
 * method fails at once with a UsageError naming the flag to pass instead, so scripts never hang.
 */
export interface Prompter {
  input(q: Base & { default?: string; validate?: (value: string) => true | string }): Promise<string>;
  select<T extends string>(q: Base & { choices: Choice<T>[]; default?: T }): Promise<T>;
  confirm(q: Base & { default?: boolean }): Promise<boolean>;
  /** Masked input (tokens). */
  password(q: Base): Promise<string>;
}

/** A question names users, holders and resources from state and providers: shown without control sequences. */
function clean<Q extends Base>(q: Q): Q {
  return { ...q, message: terminalText(q.message, { oneLine: true }) };
}

function unanswerable(q: Base): UsageError {
  return new UsageError(`${q.message.replace(/[?:.]\s*$/, "")}: no answer, and prompts are off (not a terminal, --no-input or CI)`, {
    hint: `pass ${q.flag}`,
  });
}

/**
 * Asks before a change that is hard to take back, unless `--yes` answered already. Off a terminal
 * without `--yes` it fails at once naming the flag (exit 2); a "no" cancels with `declined`.
 */
export async function confirmRisk(prompt: Prompter, yes: boolean, message: string, declined: string): Promise<void> {
  if (yes) return;
  if (!(await prompt.confirm({ message, flag: "--yes", default: false }))) throw new CancelledError(declined);
}

/**
 * The prompt policy, around any Prompter: when nobody can answer, a question with a default
 * takes it (so `init --no-input` works from flags plus defaults), and a question without one,
 * every confirmation and every secret fails at once naming the flag.
 */
export class PolicyPrompter implements Prompter {
  readonly #io: IO;
  readonly #inner: Prompter;

  constructor(io: IO, inner: Prompter) {
    this.#io = io;
    this.#inner = inner;
  }

  input(q: Base & { default?: string; validate?: (value: string) => true | string }): Promise<string> {
    if (this.#io.canPrompt) return this.#inner.input(clean(q));
    if (q.default !== undefined) return Promise.resolve(q.default);
    return Promise.reject(unanswerable(q));
  }

  select<T extends string>(q: Base & { choices: Choice<T>[]; default?: T }): Promise<T> {
    if (this.#io.canPrompt) return this.#inner.select(clean(q));
    if (q.default !== undefined) return Promise.resolve(q.default);
    return Promise.reject(unanswerable(q));
  }

  confirm(q: Base & { default?: boolean }): Promise<boolean> {
    return this.#io.canPrompt ? this.#inner.confirm(clean(q)) : Promise.reject(unanswerable(q));
  }

  password(q: Base): Promise<string> {
    return this.#io.canPrompt ? this.#inner.password(clean(q)) : Promise.reject(unanswerable(q));
  }
}

/** Prompts with @inquirer/prompts on stderr, loaded only when a question is actually asked. */
export class InquirerPrompter implements Prompter {
  readonly #io: IO;
  readonly #signal: AbortSignal | undefined;

  constructor(io: IO, signal?: AbortSignal) {
    this.#io = io;
    this.#signal = signal;
  }

  async #ask<T>(q: Base, run: (p: typeof import("@inquirer/prompts"), ctx: { output: NodeJS.WritableStream; input: NodeJS.ReadableStream; signal?: AbortSignal }) => Promise<T>): Promise<T> {
    const prompts = await import("@inquirer/prompts");
    try {
      return await run(prompts, {
        output: this.#io.streams.stderr,
        input: this.#io.streams.stdin,
        ...(this.#signal ? { signal: this.#signal } : {}),
      });
    } catch (error) {
      const name = (error as Error).name;
      if (name === "ExitPromptError" || name === "AbortPromptError" || name === "AbortError") throw new CancelledError();
      throw error;
    }
  }

  input(q: Base & { default?: string; validate?: (value: string) => true | string }): Promise<string> {
    return this.#ask(q, (p, c) => p.input({ message: q.message, ...(q.default !== undefined ? { default: q.default } : {}), ...(q.validate ? { validate: q.validate } : {}) }, c));
  }

  select<T extends string>(q: Base & { choices: Choice<T>[]; default?: T }): Promise<T> {
    return this.#ask(q, (p, c) => p.select<T>({ message: q.message, choices: q.choices, ...(q.default !== undefined ? { default: q.default } : {}) }, c));
  }

  confirm(q: Base & { default?: boolean }): Promise<boolean> {
    return this.#ask(q, (p, c) => p.confirm({ message: q.message, default: q.default ?? false }, c));
  }

  password(q: Base): Promise<string> {
    return this.#ask(q, (p, c) => p.password({ message: q.message, mask: "*" }, c));
  }
}

/** Answers from a script, for tests; an unexpected question fails the test. */
export class ScriptedPrompter implements Prompter {
  readonly #answers: Map<string, unknown>;
  readonly asked: string[] = [];

  constructor(answers: Record<string, unknown>) {
    this.#answers = new Map(Object.entries(answers));
  }

  #take<T>(q: Base): T {
    this.asked.push(q.message);
    for (const [key, value] of this.#answers) {
      if (q.message.includes(key)) {
        this.#answers.delete(key);
        return value as T;
      }
    }
    throw new Error(`unexpected prompt: ${q.message}`);
  }

  async input(q: Base & { default?: string }): Promise<string> {
    const answer = this.#take<string>(q);
    return answer === "" && q.default !== undefined ? q.default : answer;
  }
  async select<T extends string>(q: Base & { choices: Choice<T>[] }): Promise<T> {
    return this.#take<T>(q);
  }
  async confirm(q: Base): Promise<boolean> {
    return this.#take<boolean>(q);
  }
  async password(q: Base): Promise<string> {
    return this.#take<string>(q);
  }
}
