import { createServer, type Server } from "node:http";
import { closeServer, listen } from "../util.js";

export interface HealthEndpoint {
  address: string;
  /** 0 picks a free port (see `SimAgent.healthPort`). */
  port: number;
  path: string;
  /** False while the host is cut off from the network: connections are reset. */
  reachable?: (() => boolean) | undefined;
}

/**
 * The agent's health check: up while the agent runs, closed (connection refused) while it is
 * stopped, as a stopped container's published port is.
 */
export class HealthServer {
  readonly #endpoint: HealthEndpoint;
  #server: Server | undefined;
  #port: number | undefined;

  constructor(endpoint: HealthEndpoint) {
    this.#endpoint = endpoint;
  }

  /** The bound port while open. */
  get port(): number | undefined {
    return this.#port;
  }

  /** Opens it; `body` is the JSON answered to `GET <path>`. */
  async open(body: () => unknown): Promise<void> {
    const { address, port, path } = this.#endpoint;
    const server = createServer((req, res) => {
      const ok = req.method === "GET" && (req.url === path || req.url?.startsWith(`${path}?`));
      res.writeHead(ok ? 200 : 404, { "content-type": "application/json" });
      res.end(ok ? JSON.stringify(body()) : '{"error":"not found"}');
    });
    server.keepAliveTimeout = 1000;
    server.on("connection", (socket) => {
      if (this.#endpoint.reachable?.() === false) socket.resetAndDestroy();
    });
    this.#server = server;
    this.#port = await listen(server, port, address);
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#port = undefined;
    if (!server) return;
    await closeServer(server);
  }
}

