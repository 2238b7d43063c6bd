import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A loopback TCP proxy in front of a real server that can lose responses: the request reaches
 * the server and runs to completion (its write committed), but the reply never reaches the
 * client, the way a reset connection, a crashed load balancer or a client timeout loses it.
 */
export interface DropProxy {
  url: string;
  /** The next n responses are lost: "drop" closes the client's connection, "hold" never answers. */
  lose(n: number, how?: "drop" | "hold"): void;
  /** Responses lost so far. */
  readonly lost: number;
  close(): Promise<void>;
}

export async function startDropProxy(upstream: string): Promise<DropProxy> {
  const target = new URL(upstream);
  let toLose = 0;
  let how: "drop" | "hold" = "drop";
  let lost = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const up = connect(Number(target.port), target.hostname);
    sockets.add(client).add(up);
    client.on("close", () => (sockets.delete(client), up.destroy()));
    up.on("close", () => (sockets.delete(up), client.destroy()));
    client.on("error", () => undefined);
    up.on("error", () => undefined);
    client.pipe(up);
    up.on("data", (chunk: Buffer) => {
      // A response's first bytes mean the server has finished the request (it answers after COMMIT).
      if (toLose > 0 && chunk.subarray(0, 5).toString() === "HTTP/") {
        toLose--;
        lost++;
        up.pause();
        if (how === "drop") client.destroy();
        return;
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    lose(n, mode = "drop") {
      toLose = n;
      how = mode;
    },
    get lost() {
      return lost;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
