/**
 * The error hierarchy. Every failure a user can cause or meet is an AutomnaError with a stable
 * `code`, the process exit code PRODUCT.md assigns, and an optional one-line `hint` saying what
 * to do. Anything else that reaches the top is reported as a bug.
 */

/** Exit codes, as documented in PRODUCT.md and the README. */
export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  PARTIAL: 3,
  LOCKED: 4,
  /** What timeout(1) exits with when the command ran out of time (`ssh --timeout`). */
  TIMED_OUT: 124,
  CANCELLED: 130,
  /** 128 + SIGPIPE, what a shell reports for a tool whose output pipe closed. */
  OUTPUT_CLOSED: 141,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface AutomnaErrorOptions {
  code?: string;
  exitCode?: number;
  hint?: string;
  cause?: unknown;
}

export class AutomnaError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(message: string, options: AutomnaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? "failed";
    this.exitCode = options.exitCode ?? ExitCode.FAILED;
    this.hint = options.hint;
  }

  /** Extra fields for the `--json` error document. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

/** Bad flags, arguments or input files: exit 2. */
export class UsageError extends AutomnaError {
  constructor(message: string, options: Omit<AutomnaErrorOptions, "exitCode"> = {}) {
    super(message, { code: "usage", ...options, exitCode: ExitCode.USAGE });
  }
}

/** A configuration file or value that cannot be used: exit 2, the file is never rewritten. */
export class ConfigError extends AutomnaError {
  constructor(message: string, options: Omit<AutomnaErrorOptions, "exitCode"> = {}) {
    super(message, { code: "config", ...options, exitCode: ExitCode.USAGE });
  }
}

/** Missing or rejected credentials. */
export class AuthError extends AutomnaError {
  constructor(message: string, options: Omit<AutomnaErrorOptions, "exitCode"> = {}) {
    super(message, { code: "auth", ...options, exitCode: ExitCode.FAILED });
  }
}

/** A provider cannot do what was asked (a capability it lacks): exit 2 with the reason. */
export class NotSupportedError extends AutomnaError {
  constructor(message: string, options: Omit<AutomnaErrorOptions, "exitCode"> = {}) {
    super(message, { code: "not_supported", ...options, exitCode: ExitCode.USAGE });
  }
}

/** Who holds a lock: enough for an operator to find them. */
export interface LockHolder {
  who: string;
  operation: string;
  since: string;
  leaseId?: string;
  expiresAt?: string;
}

/** A user locked by another operation, or a lease that was lost: exit 4. */
export class LockedError extends AutomnaError {
  readonly holder: LockHolder | undefined;
  constructor(message: string, holder?: LockHolder, options: Omit<AutomnaErrorOptions, "exitCode"> = {}) {
    super(message, { code: "locked", ...options, exitCode: ExitCode.LOCKED });
    this.holder = holder;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), ...(this.holder ? { holder: this.holder } : {}) };
  }
}

/** An optimistic-concurrency conflict (stale version) or a uniqueness clash: exit 4. */
export class ConflictError extends AutomnaError {
  constructor(message: string, options: Omit<AutomnaErrorOptions, "exitCode"> = {}) {
    super(message, { code: "conflict", ...options, exitCode: ExitCode.LOCKED });
  }
}

/** Something asked for does not exist (a user, an operation, a config key). Bad input: exit 2. */
export class NotFoundError extends AutomnaError {
  constructor(message: string, options: Omit<AutomnaErrorOptions, "exitCode"> = {}) {
    super(message, { code: "not_found", ...options, exitCode: ExitCode.USAGE });
  }
}

/** Ctrl-C, a cancelled prompt or an aborted operation: exit 130 (141 when the output pipe closed). */
export class CancelledError extends AutomnaError {
  constructor(message = "cancelled", options: AutomnaErrorOptions = {}) {
    super(message, { code: "cancelled", exitCode: ExitCode.CANCELLED, ...options });
  }
}

/**
 * Whoever read automna's output went away (`automna provision d3 | head -1`): the run stops as a
 * cancel, so a mutating command never exits 0 with its work half done.
 */
export class OutputClosedError extends CancelledError {
  constructor() {
    super("stopped: the output pipe closed before automna finished", {
      code: "output_closed",
      exitCode: ExitCode.OUTPUT_CLOSED,
      hint: "run the command again with its output going to a reader that stays open; work it started resumes",
    });
  }
}

/** A per-field validation message from a provider (Hetzner `details.fields`, etc.). */
export interface FieldError {
  field: string;
  messages: string[];
}

export interface ProviderApiErrorInit {
  provider: string;
  status: number;
  /** The provider's own error code, e.g. `invalid_input`, `too_many_requests`. */
  providerCode?: string;
  requestId?: string;
  fields?: FieldError[];
  method?: string;
  path?: string;
  hint?: string;
  cause?: unknown;
}

/** A provider API answered with an error (or could not be reached). */
export class ProviderApiError extends AutomnaError {
  readonly provider: string;
  readonly status: number;
  readonly providerCode: string | undefined;
  readonly requestId: string | undefined;
  readonly fields: FieldError[];
  readonly method: string | undefined;
  readonly path: string | undefined;

  constructor(message: string, init: ProviderApiErrorInit) {
    super(message, {
      code: init.providerCode ?? `http_${init.status}`,
      exitCode: init.status === 422 || init.status === 400 ? ExitCode.USAGE : ExitCode.FAILED,
      hint: init.hint,
      cause: init.cause,
    });
    this.provider = init.provider;
    this.status = init.status;
    this.providerCode = init.providerCode;
    this.requestId = init.requestId;
    this.fields = init.fields ?? [];
    this.method = init.method;
    this.path = init.path;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      provider: this.provider,
      status: this.status,
      ...(this.requestId ? { requestId: this.requestId } : {}),
      ...(this.fields.length ? { fields: this.fields } : {}),
    };
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || (error as { code?: string }).code === "ABORT_ERR");
}

/** An error as bulk commands report it per user (`--json`): code, message, hint. */
export function errorJson(error: unknown): { code: string; message: string; hint?: string } {
  if (error instanceof AutomnaError) return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  return { code: "internal", message: error instanceof Error ? error.message : String(error) };
}

const FAILURES = new WeakMap<object, unknown>();

/** Keeps the error behind a failed outcome of any bulk command. */
export function rememberFailure(outcome: object, error: unknown): void {
  FAILURES.set(outcome, error);
}

/** The error behind a failed outcome (a single-user run rethrows it for its exit code and hint). */
export function failureOf(outcome: object): unknown {
  return FAILURES.get(outcome);
}
