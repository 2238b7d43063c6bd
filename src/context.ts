import { hostname } from "node:os";
import type { Config } from "./lib/config.js";
import { OutputClosedError } from "./lib/errors.js";
import { IO, type Streams } from "./lib/io.js";
import { InquirerPrompter, PolicyPrompter, type Prompter } from "./lib/prompt.js";
import type { ProviderRegistry } from "./providers/index.js";
import type { StateStore } from "./state/types.js";
import { VERSION } from "./version.js";

/** The global flags, parsed once. */
export interface GlobalOptions {
  json: boolean;
  profile?: string | undefined;
  config?: string | undefined;
  state?: string | undefined;
  yes: boolean;
  quiet: boolean;
  verbose: boolean;
  debug: boolean;
  color: boolean;
  input: boolean;
}

export interface Clock {
  now(): Date;
}

/**
 * Everything a command needs, built once in main() and passed down explicitly. Tests build their
 * own (test/helpers/context.ts) with in-memory streams, a temp config and state, and a clock.
 * Config and state open lazily so `--help` and `--version` touch neither.
 */
export interface Context {
  readonly io: IO;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly clock: Clock;
  /**
   * Aborted on Ctrl-C (reason: an AbortError) or when the output pipe closes (reason: an
   * OutputClosedError); long work checks it and stops cleanly.
   */
  readonly signal: AbortSignal;
  readonly prompt: Prompter;
  readonly version: string;
  globals: GlobalOptions;
  /** Set by a command that finishes without throwing but not fully (3 for partial). */
  exitCode: number;
  /**
   * Set by a command whose clean answer to Ctrl-C/SIGTERM is to stop and succeed (a server's
   * graceful shutdown): main() then does not turn the abort into exit 130.
   */
  abortIsStop?: boolean;
  /**
   * Set by the commands that create a profile (init, config profile create) before they read the
   * configuration: for every other command an unknown --profile is a typo, refused.
   */
  createsProfile?: boolean;
  /** The resolved configuration (profile and file from the global flags). */
  config(): Promise<Config>;
  /** The state store (embedded SQLite unless state.url is set). */
  state(): Promise<StateStore>;
  /** The provider registry (id/alias -> Provider), built from the config on first use. */
  providers(): Promise<ProviderRegistry>;
  /** Who is acting: config `operator`, else $USER@host. */
  operator(): Promise<string>;
  /** Closes what was opened (state store, provider connection pools). */
  dispose(): Promise<void>;
}

export interface ContextInit {
  streams: Streams;
  env: NodeJS.ProcessEnv;
  cwd?: string;
  clock?: Clock;
  signal?: AbortSignal;
  prompt?: Prompter;
}

export const DEFAULT_GLOBALS: GlobalOptions = {
  json: false, yes: false, quiet: false, verbose: false, debug: false, color: true, input: true,
};

export function createContext(init: ContextInit): Context {
  // A closed output pipe cancels the run like Ctrl-C does, so leases are released and state is
  // left resumable rather than the process dying mid-step or finishing with exit 0.
  const outputClosed = new AbortController();
  const io = new IO(init.streams, init.env, () => {
    if (!outputClosed.signal.aborted) outputClosed.abort(new OutputClosedError());
  });
  const signal = init.signal ? AbortSignal.any([init.signal, outputClosed.signal]) : outputClosed.signal;
  const clock = init.clock ?? { now: () => new Date() };
  let config: Promise<Config> | undefined;
  let state: Promise<StateStore> | undefined;
  let providers: Promise<ProviderRegistry> | undefined;
  const ctx: Context = {
    io,
    env: init.env,
    cwd: init.cwd ?? process.cwd(),
    clock,
    signal,
    prompt: new PolicyPrompter(io, init.prompt ?? new InquirerPrompter(io, signal)),
    version: VERSION,
    globals: { ...DEFAULT_GLOBALS },
    exitCode: 0,
    config() {
      config ??= import("./lib/config.js").then(async ({ Config, closestKey }) => {
        const cfg = await Config.open({ path: ctx.globals.config, profile: ctx.globals.profile, env: init.env, mustExist: ctx.createsProfile !== true });
        // A mistyped key would otherwise be ignored without a word.
        for (const key of cfg.unknownKeys()) io.warn(`${cfg.path}: unknown key "${key}" in profile ${cfg.profile} is ignored${closestKey(key)}`);
        return cfg;
      });
      return config;
    },
    state() {
      state ??= (async () => {
        const cfg = await ctx.config();
        const { openStateStore } = await import("./state/open.js");
        return openStateStore(cfg, ctx.globals.state ?? init.env.AUTOMNA_STATE, () => clock.now(), {
          debug: (line) => io.debug(line), warn: (line) => io.warn(line), signal, operator: await ctx.operator(),
        });
      })();
      return state;
    },
    providers() {
      providers ??= (async () => {
        const cfg = await ctx.config();
        const [{ ProviderRegistry }, { legacyBinder }] = await Promise.all([import("./providers/index.js"), import("./fleet/legacy-binding.js")]);
        const onUnbound = legacyBinder({ state: () => ctx.state(), prompt: ctx.prompt, yes: () => ctx.globals.yes });
        return new ProviderRegistry(cfg, { env: init.env, signal, debug: (m) => io.debug(m), onUnbound });
      })();
      return providers;
    },
    async operator() {
      const cfg = await ctx.config();
      return cfg.getString("operator") ?? `${init.env.USER || init.env.LOGNAME || "unknown"}@${hostname()}`;
    },
    async dispose() {
      if (providers) {
        const p = await providers.catch(() => undefined);
        providers = undefined;
        await p?.close();
      }
      if (state) {
        const s = await state.catch(() => undefined);
        state = undefined;
        await s?.close();
      }
    },
  };
  return ctx;
}
