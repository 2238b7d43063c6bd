import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest, RouteGenericInterface } from "fastify";
import { UsageError } from "../../lib/errors.js";
import { expiredBefore, IdempotencyKeyTakenError, type IdempotencyRecord, type StoredResponse } from "../idempotency.js";
import type { ServerBackend } from "../tokens.js";
import type { StateStore } from "../types.js";
import { encodeVersion, IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_RE, LEASE_HEADER, REPLAYED_HEADER } from "../wire.js";
import { IdempotencyKeyReusedError } from "./errors.js";

/** Expired records are deleted at most this often per server process (lookups ignore them anyway). */
const PURGE_EVERY_MS = 10 * 60_000;

type Exec<R extends RouteGenericInterface> = (store: StateStore, request: FastifyRequest<R>) => Promise<unknown>;

/**
 * A repeat is the same request when method, path, body and the write headers match: the same key
 * with another If-Match or lease is a different request, not a retry.
 */
function fingerprint(request: FastifyRequest): string {
  const h = request.headers;
  return createHash("sha256").update(JSON.stringify([request.method, request.url, request.body ?? null, h["if-match"] ?? null, h[LEASE_HEADER] ?? null])).digest("hex");
}

/** Sends a response as recorded; an object with a version gets it as its ETag, as reads do. */
function send(reply: FastifyReply, response: StoredResponse): FastifyReply {
  reply.code(response.status);
  if (response.body === null) return reply.send();
  const version = (JSON.parse(response.body) as { version?: unknown } | null)?.version;
  if (typeof version === "number") reply.header("etag", encodeVersion(version));
  return reply.type("application/json; charset=utf-8").send(response.body);
}

function replay(reply: FastifyReply, record: IdempotencyRecord, fp: string, key: string): FastifyReply {
  if (record.fingerprint !== fp) throw new IdempotencyKeyReusedError(key);
  reply.header(REPLAYED_HEADER, "true");
  return send(reply, record);
}

/**
 * Handlers for the mutating routes. Without an Idempotency-Key a mutation runs as it always did.
 * With one, the first request runs and its response is recorded by the store in the mutation's
 * transaction; a repeat (same operator and key) is answered from the record. A repeat that
 * arrives while the first still runs waits for it: on PostgreSQL the claim blocks on the record's
 * primary key until the first commits, on SQLite writes are serialised; it then replays.
 */
export function mutations(backend: ServerBackend, now: () => Date) {
  let lastPurge = 0;
  const purgeLazily = async (): Promise<void> => {
    const at = now();
    if (at.getTime() - lastPurge < PURGE_EVERY_MS) return;
    lastPurge = at.getTime();
    // Best effort: a busy database must not fail the request; the next purge catches up.
    await backend.purgeIdempotency(expiredBefore(at)).catch(() => undefined);
  };

  return <R extends RouteGenericInterface>(status: 200 | 201 | 204, exec: Exec<R>) =>
    async (request: FastifyRequest<R>, reply: FastifyReply): Promise<FastifyReply> => {
      const respond = (result: unknown): StoredResponse => ({ status, body: status === 204 || result === undefined ? null : JSON.stringify(result) });
      const stamp = { who: request.caller!.operator, requestId: request.id, holderOnly: request.caller!.scope !== "admin" };
      const key = request.headers[IDEMPOTENCY_KEY_HEADER];
      if (key === undefined) return send(reply, respond(await exec(backend.audited(stamp), request)));
      if (typeof key !== "string" || !IDEMPOTENCY_KEY_RE.test(key)) {
        throw new UsageError("malformed Idempotency-Key header: expected 1-255 visible ASCII characters (a UUID)");
      }
      await purgeLazily();
      const operator = request.caller!.operator;
      const fp = fingerprint(request);
      const find = () => backend.getIdempotency(operator, key, expiredBefore(now()));
      const earlier = await find();
      if (earlier) return replay(reply, earlier, fp, key);
      try {
        return send(reply, respond(await exec(backend.audited({ ...stamp, idempotency: { operator, key, fingerprint: fp, respond } }), request)));
      } catch (error) {
        // A twin committed the key between our lookup and our claim: ours rolled back, answer theirs.
        const twin = error instanceof IdempotencyKeyTakenError ? await find() : undefined;
        if (!twin) throw error;
        return replay(reply, twin, fp, key);
      }
    };
}
