// getBuiltinModule, not import: node:http's ES module namespace reads every export, and one of
// them (WebSocket) loads Node's own bundled undici, a tenth of a migrating command's start-up CPU.
const { request } = process.getBuiltinModule("node:http");

export interface HealthResult {
  ok: boolean;
  url: string;
  status?: number;
  ms?: number;
  error?: string;
}

/** Which address of an instance the agent's health endpoint answers on. */
export function healthHost(addresses: Record<string, string>): string | undefined {
  return addresses.ipv4 ?? addresses.hostname ?? addresses.ipv6 ?? addresses.private;
}

/** One GET of the agent's health endpoint; never throws. */
export function checkHealth(host: string, port: number, path: string, timeoutMs = 3000, signal?: AbortSignal): Promise<HealthResult> {
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const url = `http://${hostPart}:${port}${path}`;
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { method: "GET", timeout: timeoutMs, ...(signal ? { signal } : {}) }, (res) => {
      res.resume();
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        resolve({ ok: status >= 200 && status < 300, url, status, ms: Math.round(performance.now() - started) });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ ok: false, url, error: error.code ?? error.message }));
    req.end();
  });
}
