import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

/**
 * The transport (src/lib/http-transport.ts) loads undici's Pool and request API from undici's own
 * files instead of its index (fetch, WebSocket, caches, mocks: about 0.1 s of CPU per command).
 * Should an undici upgrade move those files, the transport falls back to the index and still
 * works, only slower: this test says so instead.
 */
describe("undici's files the transport loads directly", () => {
  it("are where it looks: a Pool that is a Dispatcher, and the request API it adds to Dispatcher", () => {
    const load = createRequire(import.meta.url);
    const pool = load("undici/lib/dispatcher/pool.js") as { prototype: object };
    const dispatcher = load("undici/lib/dispatcher/dispatcher.js") as new () => object;
    const api = load("undici/lib/api/index.js") as Record<string, unknown>;
    expect(pool.prototype).toBeInstanceOf(dispatcher);
    expect(typeof api.request).toBe("function");
  });
});
