import type { Context } from "../../context.js";
import { UsageError } from "../../lib/errors.js";
import { parseInteger } from "../../lib/validate.js";
import { describeDb } from "./db.js";

export interface ServeOptions {
  db?: string | undefined;
  listen: string;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
}

export interface ServeResult {
  url: string;
  backend: "sqlite" | "postgres";
  db: string;
  requests: number;
}

/** Parses `host:port`, `[v6]:port` or a bare port. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(value) ?? (/^(\d+)$/.test(value) ? [value, undefined, "127.0.0.1", value] : null);
  if (!m) throw new UsageError(`--listen must be host:port (e.g. 127.0.0.1:7070), got "${value}"`);
  return { host: m[1] ?? m[2]!, port: parseInteger("--listen port", m[3]!, 0, 65535) };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/**
 * Runs the shared state API until Ctrl-C or SIGTERM, then shuts down gracefully: stops
 * accepting, finishes in-flight requests (each write is a committed transaction before it is
 * acknowledged), and closes the database. `onReady` fires once it listens.
 */
export async function runStateServe(ctx: Context, opts: ServeOptions, onReady?: (info: Omit<ServeResult, "requests">) => void): Promise<ServeResult> {
  const { host, port } = parseListen(opts.listen);
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new UsageError("--tls-cert and --tls-key go together");
  const db = await describeDb(ctx, opts.db);
  if (!opts.tlsCert && !isLoopback(host)) {
    ctx.io.warn(`listening on ${host} without TLS: bearer tokens cross the network in clear (pass --tls-cert/--tls-key, or terminate TLS in front)`);
  }
  const [{ openBackend }, { startStateServer }] = await Promise.all([import("../../state/backend.js"), import("../../state/server/app.js")]);
  const backend = await openBackend(db.location);
  let requests = 0;
  let server;
  try {
    server = await startStateServer({
      backend, host, port,
      ...(opts.tlsCert && opts.tlsKey ? { tls: { certFile: opts.tlsCert, keyFile: opts.tlsKey } } : {}),
      log: (line) => {
        requests++;
        ctx.io.info(`${new Date().toISOString()} ${line}`);
      },
      logError: (requestId, error) => ctx.io.errorLine(`${requestId} internal error: ${error instanceof Error ? (ctx.globals.debug ? error.stack : error.message) : String(error)}`),
    });
  } catch (error) {
    await backend.close();
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE") throw new UsageError(`${opts.listen} is already in use`, { hint: "pick another --listen port" });
    throw error;
  }
  const info = { url: server.url, backend: backend.kind, db: db.display };
  ctx.io.info(`state server listening on ${server.url} (${backend.kind} ${db.display}); Ctrl-C stops it`);
  onReady?.(info);
  // A server's answer to Ctrl-C/SIGTERM is a clean stop, exit 0, not "cancelled".
  ctx.abortIsStop = true;
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  ctx.io.info("shutting down: finishing requests in flight");
  await server.close();
  await backend.close();
  ctx.io.info(`stopped after ${requests} requests`);
  return { ...info, requests };
}
