import { createServer, type IncomingMessage } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { isAbortError } from "../../src/lib/errors.js";
import { Secret } from "../../src/lib/redact.js";
import { StorageClient } from "../../src/lib/s3-objects.js";
import type { StorageSettings } from "../../src/lib/s3-presign.js";

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** A loopback object store that answers from `answer` and keeps every request's headers. */
async function store(answer: (n: number) => { status: number; body?: string }): Promise<{ settings: StorageSettings; seen: IncomingMessage["headers"][] }> {
  const seen: IncomingMessage["headers"][] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    const { status, body = "" } = answer(seen.length);
    res.writeHead(status, { "content-type": "application/xml" });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  close = () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve())));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { seen, settings: { endpoint, bucket: "automna", region: "auto", accessKeyId: new Secret("AKIDEXAMPLE0001"), secretAccessKey: new Secret("s3-secret-example-0001") } };
}

const slowDown = { status: 503, body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>" };

describe("StorageClient on the shared transport", () => {
  it("retries a 5xx with a fresh signature, then answers", async () => {
    const { settings, seen } = await store((n) => (n === 1 ? slowDown : { status: 200, body: "manifest" }));
    const client = new StorageClient(settings, { sleep: async () => undefined });
    expect(await client.getText("m.json")).toBe("manifest");
    await client.close();
    expect(seen).toHaveLength(2);
    for (const headers of seen) expect(headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0001\//);
  });

  it("gives up after its attempts with the store's error code", async () => {
    const { settings, seen } = await store(() => slowDown);
    const client = new StorageClient(settings, { attempts: 2, sleep: async () => undefined });
    await expect(client.deleteObject("x")).rejects.toMatchObject({ status: 503, providerCode: "SlowDown", message: "object storage: SlowDown: Please reduce your request rate. (DELETE /automna/x)" });
    await client.close();
    expect(seen).toHaveLength(2);
  });

  it("takes an AbortSignal: Ctrl-C ends a wait between attempts, and nothing is sent after it", async () => {
    const { settings, seen } = await store(() => slowDown);
    const ac = new AbortController();
    const client = new StorageClient(settings, { attempts: 50, signal: ac.signal, debug: (line) => (line.includes("; retry ") ? ac.abort() : undefined) });
    expect(isAbortError(await client.putObject("m.json", "{}").catch((e: unknown) => e))).toBe(true);
    expect(seen).toHaveLength(1);
    expect(isAbortError(await client.headObject("m.json").catch((e: unknown) => e))).toBe(true);
    expect(seen).toHaveLength(1);
    await client.close();
  });
});
