import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { newId } from "../../lib/ids.js";
import type { ServerBackend } from "../tokens.js";
import { KEYS_HONOURED_HEADER, REQUEST_ID_HEADER, REQUEST_ID_RE } from "../wire.js";
import { authenticate } from "./auth.js";
import { clientError, frameworkError, guardJsonDepth, refuseWhileClosing } from "./edges.js";
import { toHttpError } from "./errors.js";
import { registerRoutes } from "./routes.js";

export interface StateServerOptions {
  backend: ServerBackend;
  /** Injected clock for tests; production uses real time (the store has its own clock too). */
  now?: () => Date;
  /** One line per request (method, path, status, operator, duration); never headers or bodies. */
  log?: (line: string) => void;
  /** A handler failure's details, for the server's log (the client gets a request id). */
  logError?: (requestId: string, error: unknown) => void;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
}

export interface RunningStateServer {
  readonly url: string;
  readonly app: FastifyInstance;
  /** Stops accepting, finishes in-flight requests, then returns. Does not close the backend. */
  close(): Promise<void>;
}

/** The state API as a Fastify app (not listening): tests inject requests into it directly. */
export async function buildStateApp(options: StateServerOptions, https?: { cert: Buffer; key: Buffer }): Promise<FastifyInstance> {
  const { default: Fastify } = await import("fastify");
  const now = options.now ?? (() => new Date());
  const app = Fastify({
    logger: false,
    ...(https ? { https } : {}),
    // Client-supplied ids are kept when sane, so the CLI can quote the id the audit log holds.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers[REQUEST_ID_HEADER];
      return typeof given === "string" && REQUEST_ID_RE.test(given) ? given : newId("req", now());
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", allErrors: false } },
    bodyLimit: 1024 * 1024,
    // Fastify's own answers (over-long URLs, shutdown, malformed HTTP) in the documented shape.
    return503OnClosing: false,
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
  }) as unknown as FastifyInstance;
  app.decorateRequest("caller", null);
  guardJsonDepth(app);
  refuseWhileClosing(app);
  app.addHook("onRequest", authenticate(options.backend, now));
  app.addHook("onSend", async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    reply.header(KEYS_HONOURED_HEADER, "1");
  });
  app.setErrorHandler((error, request, reply) => {
    const { status, body, headers } = toHttpError(error, request.id);
    if (status >= 500) options.logError?.(request.id, error);
    return reply.code(status).headers(headers).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}`, requestId: request.id } }));
  if (options.log) {
    const log = options.log;
    app.addHook("onResponse", async (request, reply) => {
      // The path only: query strings carry nothing secret today, but a log is forever.
      const path = request.url.split("?")[0];
      log(`${request.id} ${request.caller?.operator ?? "-"} ${request.method} ${path} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`);
    });
  }
  app.get("/healthz", async () => {
    await options.backend.ping();
    return { status: "ok", backend: options.backend.kind };
  });
  registerRoutes(app, options.backend, now);
  return app;
}

/** Builds the app and listens; `close()` is the graceful shutdown. */
export async function startStateServer(options: StateServerOptions & ListenOptions): Promise<RunningStateServer> {
  const https = options.tls ? { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) } : undefined;
  const app = await buildStateApp(options, https);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `${https ? "https" : "http"}://${host}:${port}`,
    app,
    close: () => app.close(),
  };
}
