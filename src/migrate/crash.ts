import type { CrashPoint } from "./types.js";

/**
 * TEST-ONLY crash injection. `AUTOMNA_CRASH_AT=<step>:<intent|after|done>` makes the process
 * SIGKILL itself right after the step's intent is journaled (before its external call), right
 * after the external call returns (before `done` is journaled), or right after `done`. The
 * reliability tests use it to prove that `migrate resume` finishes from state alone; nobody should
 * set it otherwise.
 */
export function crashPointFromEnv(env: NodeJS.ProcessEnv): CrashPoint | null {
  const raw = env.AUTOMNA_CRASH_AT;
  if (!raw) return null;
  const m = /^([a-z-]+):(intent|after|done)$/.exec(raw);
  if (!m) return null;
  return { step: m[1]!, phase: m[2] as CrashPoint["phase"] };
}

export function maybeCrash(point: CrashPoint | null, step: string, phase: CrashPoint["phase"]): void {
  if (point && point.step === step && point.phase === phase) process.kill(process.pid, "SIGKILL");
}
