import { availableParallelism, loadavg } from "node:os";

/**
 * Time budgets that scale with the work and with how busy the machine is (the approach is
 * explained in vitest.config.ts). A budget is never what a test asserts: it only decides how long
 * to wait before calling something hung.
 */

/** The variable that carries the slowdown factor to the test workers (CI may set it higher). */
export const SLOWDOWN_VAR = "AUTOMNA_TEST_SLOWDOWN";

/**
 * How many times slower than on a quiet machine work may take in this run: AUTOMNA_TEST_SLOWDOWN
 * when set (a number >= 1), else the machine's load per core (the larger of the 1- and 5-minute
 * load averages over the cores), at least 1.
 */
export function slowdownOf(env: NodeJS.ProcessEnv): number {
  const given = env[SLOWDOWN_VAR];
  if (given !== undefined && given !== "") {
    const factor = Number(given);
    if (!(factor >= 1)) throw new Error(`${SLOWDOWN_VAR} must be a number of at least 1, got "${given}"`);
    return factor;
  }
  const [one = 0, five = 0] = loadavg();
  return Math.max(1, Math.round((Math.max(one, five) / availableParallelism()) * 10) / 10);
}

/** Read once per run: vitest.config.ts computes it and hands it to every worker in the environment. */
export const SLOWDOWN = slowdownOf(process.env);

/**
 * The quiet-machine cost of the units of work tests are made of, with headroom (each is a few times
 * what it takes on this 2-core machine when nothing else runs). Budgets are sums of these.
 */
export const QUIET_MS = {
  /** An ordinary test or hook: vitest's default testTimeout and hookTimeout. */
  test: 30_000,
  /** One start of the built binary for a short command (status, list, lock). */
  binaryRun: 20_000,
  /** One user's migration end to end (provision the target, copy /data twice, verify, switch, retire). */
  migration: 30_000,
  /** A condition the sandbox reaches in a few milliseconds (a state transition, a log line). */
  poll: 5_000,
} as const;

/**
 * How many tests of one file run at once when the file asks for it (`describe.concurrent`): the
 * slow project's maxConcurrency. Tests that run side by side share the cores, so their budgets
 * count that share (see crash.test.ts).
 */
export const TEST_CONCURRENCY = 6;

/** The budget for `quietMs` of work in this run. */
export function budget(quietMs: number): number {
  return Math.ceil(quietMs * SLOWDOWN);
}

/** A duration for automna's own settings (AUTOMNA_HEALTH_TIMEOUT, ...): the budget, in ms. */
export function budgetSetting(quietMs: number): string {
  return `${budget(quietMs)}ms`;
}

/** Polls `check` every `everyMs` until it returns a value (not undefined/false); fails after the budget for `quietMs`. */
export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, quietMs: number = QUIET_MS.poll, everyMs = 20): Promise<T> {
  const deadline = Date.now() + budget(quietMs);
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${budget(quietMs)} ms (${quietMs} ms quiet x slowdown ${SLOWDOWN})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * `ssh.options` for automna runs against sandbox hosts: OpenSSH's ConnectTimeout (automna's
 * default 10 s covers the TCP connect and the banner exchange) scaled like every other budget,
 * so a handshake slowed by a loaded machine is not a failed connection (ssh exits 255).
 */
export function sshOptionsForLoad(): Record<string, string> {
  return { AUTOMNA_SSH_OPTIONS: `ConnectTimeout=${Math.ceil(budget(10_000) / 1000)}` };
}
