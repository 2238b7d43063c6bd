import { connect } from "node:net";
import { request } from "undici";
import { Secret } from "../../src/lib/redact.js";
import { HttpStore } from "../../src/state/http-store.js";
import { startStateServer, type RunningStateServer } from "../../src/state/server/app.js";
import { mintToken, type ServerBackend, type TokenScope } from "../../src/state/tokens.js";

export interface TestServer {
  server: RunningStateServer;
  url: string;
  /** One token per scope, for operators ann (admin), wes (write) and rae (read). */
  tokens: Record<TokenScope, string>;
  /** A client store with the given scope's token. */
  client(scope?: TokenScope): Promise<HttpStore>;
  log: string[];
  close(): Promise<void>;
}

export async function createToken(backend: ServerBackend, operator: string, scope: TokenScope, now = new Date()): Promise<string> {
  const { token, record } = mintToken(operator, scope, now, "test");
  await backend.insertToken(record);
  return token;
}

/** A state server on a free loopback port over the given backend, with tokens of every scope. */
export async function startTestServer(backend: ServerBackend, now?: () => Date): Promise<TestServer> {
  const tokens = {
    admin: await createToken(backend, "ann", "admin"),
    write: await createToken(backend, "wes", "write"),
    read: await createToken(backend, "rae", "read"),
  };
  const log: string[] = [];
  const server = await startStateServer({ backend, host: "127.0.0.1", port: 0, log: (l) => log.push(l), ...(now ? { now } : {}) });
  const clients: HttpStore[] = [];
  return {
    server,
    url: server.url,
    tokens,
    log,
    async client(scope: TokenScope = "admin") {
      const c = await HttpStore.open(server.url, { token: new Secret(tokens[scope]), attempts: 2 });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
    },
  };
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Raw HTTP, to see statuses, headers and bodies exactly as a client gets them. */
export async function rawRequest(base: string, method: Method, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await request(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: text ? (JSON.parse(text) as { error?: Record<string, unknown> } & Record<string, unknown>) : undefined };
}

/** Bytes written straight to the server's socket (malformed HTTP), and all it answers before closing. */
export function rawSocket(base: string, bytes: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}
