import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { newId } from "../lib/ids.js";
import type { IdempotencyStore } from "./idempotency.js";
import type { AuditStamp } from "./rules.js";
import type { StateStore } from "./types.js";

/**
 * Bearer tokens for `automna state serve`. A token is `<id>.<secret>`: the id finds the row, the
 * secret is 32 random bytes of which only the SHA-256 is stored (a fast hash is enough for a
 * 256-bit random value; nothing to brute-force). Comparison is constant-time.
 */

export const TOKEN_SCOPES = ["read", "write", "admin"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** Scopes are ordered: write implies read, admin implies both. */
export function scopeAllows(held: TokenScope, needed: TokenScope): boolean {
  return TOKEN_SCOPES.indexOf(held) >= TOKEN_SCOPES.indexOf(needed);
}

export interface TokenInfo {
  id: string;
  operator: string;
  scope: TokenScope;
  createdAt: string;
  createdBy: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface TokenRecord extends TokenInfo {
  /** Hex SHA-256 of the secret part. */
  hash: string;
}

/** Token administration, on the database the server uses (not over HTTP). */
export interface TokenStore {
  insertToken(record: TokenRecord): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenInfo[]>;
  /** Marks a token revoked; NotFoundError when there is no such token. */
  revokeToken(id: string): Promise<TokenInfo>;
  /** Records use, at most once per `staleBefore` window (a write per request would cost more than the request). */
  touchToken(id: string, at: string, staleBefore: string): Promise<void>;
}

/** What `automna state serve` runs on: the state store, tokens, and audited views for requests. */
export interface ServerBackend extends StateStore, TokenStore, IdempotencyStore {
  readonly kind: "sqlite" | "postgres";
  /** Throws when the database cannot answer (the health check). */
  ping(): Promise<void>;
  /** A view whose every mutation appends an audit row stamped with who and the request id, atomically. */
  audited(stamp: AuditStamp): StateStore & TokenStore;
}

const TOKEN_RE = /^(tok_[0-9a-z]{9}[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

export function mintToken(operator: string, scope: TokenScope, now: Date, createdBy: string | null): { token: string; record: TokenRecord } {
  const id = newId("tok", now);
  const secret = randomBytes(32).toString("base64url");
  return {
    token: `${id}.${secret}`,
    record: { id, operator, scope, createdAt: now.toISOString(), createdBy, lastUsedAt: null, revokedAt: null, hash: hashSecret(secret) },
  };
}

/** Splits a presented token; undefined when it is not one of ours. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function secretMatches(record: TokenRecord, secret: string): boolean {
  const want = Buffer.from(record.hash, "hex");
  const got = Buffer.from(hashSecret(secret), "hex");
  return want.length === got.length && timingSafeEqual(want, got);
}

export function toTokenInfo(r: TokenRecord): TokenInfo {
  return { id: r.id, operator: r.operator, scope: r.scope, createdAt: r.createdAt, createdBy: r.createdBy, lastUsedAt: r.lastUsedAt, revokedAt: r.revokedAt };
}
