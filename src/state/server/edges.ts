import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AutomnaError, UsageError } from "../../lib/errors.js";
import { KEYS_HONOURED_HEADER, REQUEST_ID_HEADER, type WireError } from "../wire.js";
import { toHttpError } from "./errors.js";

/**
 * The edges of the HTTP framework, where Fastify would otherwise answer on its own, in its own
 * error shape: over-long or malformed URLs, requests arriving while the server shuts down,
 * malformed HTTP, and JSON bodies nested deeper than anything the API takes (which would
 * otherwise overflow the stack further in and answer 500). Every one answers the documented
 * `{"error":{code,message,...}}` instead.
 */

/** Deeper than any request the API takes (a journal entry's data is about 4 levels). */
export const MAX_JSON_DEPTH = 64;

/** Whether a JSON text nests arrays and objects deeper than `limit` (one pass, no recursion, strings skipped). */
export function jsonNestsDeeper(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** Fastify's own JSON parser (with its prototype-poisoning guard), behind the depth check. */
export function guardJsonDepth(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (jsonNestsDeeper(body as string, MAX_JSON_DEPTH)) {
      done(new UsageError(`invalid request: the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`, { code: "invalid_request" }), undefined);
      return;
    }
    parse(request, body as string, done);
  });
}

/** Errors Fastify's router raises before any route runs (the `frameworkErrors` option). */
export function frameworkError(error: Error & { code?: string; statusCode?: number }, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const known: Record<string, string> = {
    FST_ERR_MAX_PARAM_LENGTH: "invalid request: a path parameter is longer than 100 characters",
    FST_ERR_BAD_URL: "invalid request: the URL is not validly encoded",
  };
  const message = error.code ? known[error.code] : undefined;
  // The routes' onSend hook does not run for these: the headers every answer carries, here.
  reply.header(REQUEST_ID_HEADER, request.id).header(KEYS_HONOURED_HEADER, "1");
  if (message) return reply.code(error.statusCode ?? 400).send({ error: { code: "invalid_request", message, requestId: request.id } satisfies WireError });
  const { status, body, headers } = toHttpError(error, request.id);
  return reply.code(status).headers(headers).send(body);
}

/** Malformed HTTP (no request to answer through Fastify): the documented shape, written on the socket. */
export function clientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [status, message] = error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, "the request took too long to arrive"]
    : error.code === "HPE_HEADER_OVERFLOW" ? [431, "the request headers are too large"]
      : [400, "malformed HTTP request"];
  const body = JSON.stringify({ error: { code: "invalid_request", message } satisfies WireError });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

/**
 * While the server shuts down, requests still arriving on open connections get a 503 in the
 * documented shape (Fastify's own return503OnClosing would answer in its shape): not applied,
 * retry elsewhere or later.
 */
export function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (_request, reply) => {
    if (!closing) return;
    reply.header("connection", "close");
    throw new AutomnaError("the state server is shutting down; the request was not applied", { code: "unavailable", hint: "retry in a moment" });
  });
}
