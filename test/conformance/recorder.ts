import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Exchange } from "./openapi-validator.js";

/**
 * A recording reverse proxy on loopback: automna talks to it as if it were the provider, it
 * forwards to the sandbox and keeps every request/response pair for the spec validator. Absolute
 * links the sandbox writes (Link headers, DigitalOcean's `links.pages`) are rewritten to the
 * proxy, so a client that follows them stays recorded.
 */
export interface Recorder {
  /** The proxy's origin plus the target's base path (use it in place of the target URL). */
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startRecorder(targetUrl: string): Promise<Recorder> {
  const target = new URL(targetUrl);
  const exchanges: Exchange[] = [];
  let origin = "";
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const headers = { ...req.headers, host: target.host };
      const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (up) => {
        void readAll(up).then((raw) => {
          const rewrite = (text: string): string => text.replaceAll(target.origin, origin);
          const type = String(up.headers["content-type"] ?? "");
          const out = /json|text/.test(type) ? Buffer.from(rewrite(raw.toString("utf8"))) : raw;
          const outHeaders = { ...up.headers };
          if (typeof outHeaders.link === "string") outHeaders.link = rewrite(outHeaders.link);
          if (outHeaders["content-length"] !== undefined) outHeaders["content-length"] = String(out.length);
          const url = new URL(req.url ?? "/", "http://x");
          exchanges.push({
            method: req.method ?? "GET", path: url.pathname, query: url.search.slice(1), requestHeaders: req.headers, requestBody: body,
            status: up.statusCode ?? 0, responseHeaders: up.headers, responseBody: raw,
          });
          res.writeHead(up.statusCode ?? 502, outHeaders).end(out);
        });
      });
      // A client that gives up (a long poll it abandons) abandons the upstream call too.
      res.on("close", () => upstream.destroy());
      upstream.on("error", () => res.destroy());
      upstream.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}${target.pathname.replace(/\/$/, "")}`,
    exchanges,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
