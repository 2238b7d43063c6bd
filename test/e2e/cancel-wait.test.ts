import { readdirSync } from "node:fs";
import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { automna } from "../helpers/bin.js";
import { makeHome, type Sandbox } from "../helpers/cli.js";

// Ctrl-C while the CLI waits out a provider's rate limit: the wait ends at once, exit 130.
describe("Ctrl-C during an HTTP wait, through the binary", () => {
  let home: Sandbox | undefined;
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    home?.cleanup();
  });

  it("ends a wait for Retry-After: 300 with exit 130 and nothing written", async () => {
    let requests = 0;
    // An API that refuses everything for five minutes.
    const api = createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(429, { "content-type": "application/json", "retry-after": "300" });
      res.end(JSON.stringify({ error: { code: "rate_limit_exceeded", message: "slow down" } }));
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    close = () => new Promise((resolve) => api.close(() => resolve()));
    const url = `http://127.0.0.1:${(api.address() as { port: number }).port}/v1`;
    home = makeHome({ HCLOUD_TOKEN: "hcloud-test-token-0123456789", AUTOMNA_HETZNER_URL: url });

    const child = automna(["--debug", "pricing", "refresh", "--provider", "hetzner"], home.env);
    let err = "";
    await new Promise<void>((resolve) => {
      child.stderr!.on("data", (chunk: Buffer) => {
        err += chunk.toString();
        if (/429, waiting \d+ ms/.test(err)) resolve();
      });
    });
    child.kill("SIGINT");
    const r = await child;
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(130);
    // (--debug adds the stack after the one-line error.)
    expect(String(r.stderr)).toContain("\nError: cancelled\n");
    expect(String(r.stderr)).not.toContain("hcloud-test-token-0123456789");
    expect(requests).toBe(1);
    expect(readdirSync(home.dir, { recursive: true }).map(String).filter((f) => f.includes("prices"))).toEqual([]);
  });
});
