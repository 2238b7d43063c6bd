import { AutomnaError, ConflictError, LockedError, NotFoundError, UsageError } from "../../lib/errors.js";
import type { WireError } from "../wire.js";

/** 401: no token, or one the server does not know (or revoked). */
export class UnauthorizedError extends AutomnaError {
  constructor(message: string) {
    super(message, { code: "unauthorized", hint: "set AUTOMNA_STATE_TOKEN (or config state.token) to a token from `automna state token create`" });
  }
}

/** 403: a valid token whose scope does not cover the request. */
export class ForbiddenError extends AutomnaError {
  constructor(message: string, hint = "ask the state server's admin for a token with that scope") {
    super(message, { code: "forbidden", hint });
  }
}

/** 422: an idempotency key already used for a different request by the same operator. */
export class IdempotencyKeyReusedError extends AutomnaError {
  constructor(key: string) {
    super(`idempotency key ${key} was already used for a different request`, {
      code: "idempotency_key_reused",
      hint: "send a new Idempotency-Key for each distinct request",
    });
  }
}

/** The HTTP status and error document for anything a handler throws. */
export function toHttpError(error: unknown, requestId: string): { status: number; body: { error: WireError }; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  const fastifyError = error as { validation?: unknown; statusCode?: number; message?: string; code?: string };
  let status: number;
  let wire: WireError;
  if (fastifyError.validation) {
    status = 400;
    wire = { code: "invalid_request", message: `invalid request: ${fastifyError.message ?? "validation failed"}` };
  } else if (error instanceof AutomnaError) {
    status = statusOf(error);
    wire = { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
    if (error instanceof LockedError && error.holder) wire.holder = error.holder;
    if (status === 401) headers["www-authenticate"] = 'Bearer realm="automna-state"';
    if (status === 503) headers["retry-after"] = "1";
  } else if (typeof fastifyError.statusCode === "number" && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    // Fastify's own client errors: malformed JSON, wrong content type, body too large.
    status = fastifyError.statusCode;
    wire = { code: "invalid_request", message: fastifyError.message ?? "bad request" };
  } else {
    status = 500;
    wire = { code: "internal", message: "internal error in the state server; its log has the details", hint: `quote request id ${requestId}` };
  }
  return { status, body: { error: { ...wire, requestId } }, headers };
}

function statusOf(error: AutomnaError): number {
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof IdempotencyKeyReusedError) return 422;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return error.code === "version_conflict" ? 412 : 409;
  if (error instanceof LockedError) return error.code === "state_busy" ? 503 : 423;
  if (error instanceof UsageError) return 400;
  // Not applied (the database is unreachable, the server is shutting down): may be retried.
  if (error.code === "state_unreachable" || error.code === "unavailable") return 503;
  return 500;
}
