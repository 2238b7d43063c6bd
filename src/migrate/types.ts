import type { DnsProvider } from "../dns/types.js";
import type { StorageClient } from "../lib/s3-objects.js";
import type { StorageSettings } from "../lib/s3-presign.js";
import type { TransferSettings } from "./transfer.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { Instance, StateStore } from "../state/types.js";

/** The operation kind of a migration in the state store's operations table. */
export const MIGRATE_KIND = "migrate";

/**
 * The steps of a migration, in order: the one list the engine (forward.ts runs them from it),
 * the crash tests and the documentation go by. Each is journaled as `intent` before its external
 * calls and `done` (with what it learned) after them; `migrate resume` continues from the first
 * step without a `done`. Everything before `switch` can be rolled back; from the `switch` intent
 * on, only forward.
 *
 * - `warm-archive`: the source's /data listed and archived (agent serving) and sent to the store.
 * - `warm-restore`: the agent's environment read from the source and written to the target, the
 *   target's agent held, the warm archive streamed into its /data.
 * - `freeze`: the source's agent stopped; what changed since the warm listing archived and sent.
 * - `final-restore`: the target made to match the frozen source's listing and the delta applied,
 *   while the frozen source is checked for changes.
 * - `verify`: listings and checksums compared (`--verify full`: every file's).
 * - `retire`: the source's work files removed and the source stopped, kept for the grace period.
 */
export const MIGRATE_STEPS = [
  "lock", "provision", "warm-archive", "warm-restore", "freeze", "final-restore", "verify", "start-target", "switch", "cutover", "retire", "unlock",
] as const;
export type MigrateStep = (typeof MIGRATE_STEPS)[number];

/** The step whose intent is the point of no return. */
export const COMMIT_STEP: MigrateStep = "switch";

/** What a migration was started with (the operation's params). */
export interface MigrateParams {
  from: string;
  to: string;
  region: string;
  size: string;
  image: string;
  /** How long the retired source is kept before `gc` may destroy it. */
  keepSourceMs: number;
  /** The live instance being moved (its row id). */
  sourceInstanceId: string;
  /**
   * How the target is verified: `quick` (default) compares listings and the changed files'
   * checksums; `full` also hashes every file on both sides while frozen. Absent: quick.
   */
  verify?: VerifyMode;
}

export type VerifyMode = "quick" | "full";

/** The result of one command run on an instance (OpenSSH or the Fly exec API). */
export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** Runs a shell command on an instance (see runOnInstance in src/access). */
export type HostRunner = (instance: Instance, command: string, options?: { stdin?: string | Buffer; timeoutMs?: number; signal?: AbortSignal }) => Promise<ExecResult>;

export interface HealthSettings {
  port: number;
  path: string;
  /** Consecutive successful checks required (default 3). */
  checks: number;
  intervalMs: number;
  /** How long the target may take to become healthy. */
  timeoutMs: number;
}

/** One progress event (board lines, CI lines, `-o ndjson`). */
export interface MigrateEvent {
  type: "step" | "info" | "warn" | "result";
  user: string;
  op: string;
  step: string | null;
  phase?: "start" | "done" | "resumed" | "failed" | "undone" | undefined;
  message: string;
  at: string;
}

/** A crash point for tests: `AUTOMNA_CRASH_AT=<step>:<intent|after|done>`. */
export interface CrashPoint {
  step: string;
  phase: "intent" | "after" | "done";
}

/** Everything the engine touches, built once per command run. */
export interface EngineDeps {
  state: StateStore;
  registry: ProviderRegistry;
  run: HostRunner;
  storage: StorageSettings;
  objects: StorageClient;
  /** When archives go in parts, and how large the parts are. */
  transfer: TransferSettings;
  /** null: no DNS configured; the switch is skipped with a warning. */
  dns: { provider: DnsProvider; template: string } | null;
  health: HealthSettings;
  who: string;
  now: () => Date;
  leaseTtlMs: number;
  /** Ctrl-C: stop between steps, leave the operation resumable. */
  signal: AbortSignal;
  emit: (event: MigrateEvent) => void;
  crash: CrashPoint | null;
  /** Pause between polls (health checks, retries); tests shorten it. */
  sleep: (ms: number) => Promise<void>;
  /**
   * The profile's fleet key file (src/lib/fleet-key.ts), which seals the agents' environments in
   * backups; buildEngineDeps always sets it (engine tests that never back up may leave it out).
   */
  fleetKeyFile?: string | undefined;
}

/** How one user's migration ended. */
export interface MigrateOutcome {
  user: string;
  op: string;
  result: "migrated" | "rolled_back" | "failed" | "planned";
  from: string;
  to: string;
  /** Where it stopped (failed) or the last step. */
  step: string | null;
  /** Freeze to target healthy, in ms (null when it never froze or never became healthy). */
  downtimeMs: number | null;
  /** Bytes of /data moved (warm + final archives). */
  bytes: number | null;
  target: { instanceId: string; resources: Record<string, string> } | null;
  dns: { name: string; type: string; content: string } | null;
  error: { code: string; message: string; hint?: string } | null;
  /** A rollback's notes on what it could not put back (a source or target already gone); absent when all was. */
  unrestored?: string[];
}
