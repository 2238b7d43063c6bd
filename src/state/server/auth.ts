import type { FastifyReply, FastifyRequest } from "fastify";
import { parseToken, scopeAllows, secretMatches, type ServerBackend, type TokenScope } from "../tokens.js";
import { ForbiddenError, UnauthorizedError } from "./errors.js";

/** Who made a request, from their bearer token. */
export interface Caller {
  tokenId: string;
  operator: string;
  scope: TokenScope;
}

declare module "fastify" {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one (health) are public. */
    scope?: TokenScope;
  }
}

/** last_used_at is written at most once a minute per token: a write per request would halve throughput. */
const TOUCH_EVERY_MS = 60_000;

/**
 * The onRequest hook: 401 without a token the database knows (unknown, malformed, revoked, or a
 * wrong secret all look the same to the caller), 403 when its scope is too small. The token
 * itself is never logged or echoed.
 */
export function authenticate(backend: ServerBackend, now: () => Date) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const needed = request.routeOptions.config.scope;
    if (!needed) return;
    const header = request.headers.authorization;
    const match = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new UnauthorizedError("a bearer token is required");
    const parsed = parseToken(match[1]!);
    const record = parsed && (await backend.getToken(parsed.id));
    // Compare even when the id is unknown, so timing does not tell which part was wrong.
    const matches = parsed && record ? secretMatches(record, parsed.secret) : (secretMatches(DUMMY, "x"), false);
    if (!record || !matches || record.revokedAt) throw new UnauthorizedError("the bearer token is not valid (unknown, revoked or mistyped)");
    request.caller = { tokenId: record.id, operator: record.operator, scope: record.scope };
    if (!scopeAllows(record.scope, needed)) {
      throw new ForbiddenError(`token ${record.id} of ${record.operator} has scope ${record.scope}; ${request.method} ${request.routeOptions.url} needs ${needed}`);
    }
    const at = now();
    if (!record.lastUsedAt || Date.parse(record.lastUsedAt) < at.getTime() - TOUCH_EVERY_MS) {
      await backend.touchToken(record.id, at.toISOString(), new Date(at.getTime() - TOUCH_EVERY_MS).toISOString());
    }
  };
}

const DUMMY = { id: "", operator: "", scope: "read" as const, createdAt: "", createdBy: null, lastUsedAt: null, revokedAt: null, hash: "0".repeat(64) };
