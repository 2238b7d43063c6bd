/**
 * The spec validator itself: it must catch what it is there to catch (a route the spec lacks, an
 * unknown query parameter, a bad body, an undocumented status, missing auth), and every spec in
 * ../shared/specs must load, Swagger 2.0 (Koyeb) and OpenAPI 3.1 (the Cloudflare bridge) included.
 */
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { allSpecs } from "./api-spec.js";
import { loadSpec, specsDir } from "./openapi-doc.js";
import { OpenApiValidator, type Exchange } from "./openapi-validator.js";

const hetzner = (await allSpecs()).find((s) => s.file.startsWith("hetzner"))!;
const validator = new OpenApiValidator(loadSpec(hetzner.file, hetzner.patches));

function exchange(over: Partial<Exchange> & { body?: unknown; reply?: unknown }): Exchange {
  return {
    method: "GET", path: "/v1/servers", query: "", requestHeaders: { authorization: "Bearer t" }, requestBody: Buffer.alloc(0), status: 200,
    responseHeaders: { "content-type": "application/json" },
    responseBody: Buffer.from(JSON.stringify(over.reply ?? { servers: [], meta: { pagination: { page: 1, per_page: 25, previous_page: null, next_page: null, last_page: 1, total_entries: 0 } } })),
    ...over,
    ...(over.body === undefined ? {} : { requestBody: Buffer.from(JSON.stringify(over.body)), requestHeaders: { authorization: "Bearer t", "content-type": "application/json" } }),
  };
}

const messages = (ex: Exchange): string[] => validator.check(ex).map((v) => `${v.kind}: ${v.message}`);

describe("the OpenAPI validator", () => {
  it("passes a valid exchange and names each kind of violation", () => {
    expect(messages(exchange({ query: "label_selector=a%3Db&page=2&per_page=50" }))).toEqual([]);
    expect(messages(exchange({ path: "/v1/nowhere" }))).toEqual(["route: no such path in the spec"]);
    expect(messages(exchange({ method: "PATCH" }))).toEqual(["route: /servers has no PATCH in the spec"]);
    expect(messages(exchange({ query: "colour=red" }))).toEqual(['request: query parameter "colour" is not in the spec']);
    expect(messages(exchange({ query: "per_page=many" }))[0]).toMatch(/^request: query parameter per_page: \/ must be integer/);
    expect(messages(exchange({ requestHeaders: {} }))[0]).toMatch(/^request: no security requirement is met/);
    expect(messages(exchange({ reply: { servers: "none" } }))[0]).toMatch(/^response: response body: .*must have required property 'meta'/);
    expect(messages(exchange({ status: 302 }))[0]).toMatch(/^response: status 302 is not documented/);
  });

  it("checks request bodies, nullable fields and error ranges", () => {
    const create = { method: "POST", path: "/v1/servers", status: 201 };
    expect(messages(exchange({ ...create, body: { name: "a", server_type: "cx22" }, reply: {} }))).toEqual(expect.arrayContaining([expect.stringMatching(/^request: request body: .*'image'/)]));
    const error = { error: { code: "invalid_input", message: "bad", details: {} } };
    expect(messages(exchange({ ...create, body: { name: "a", server_type: "cx22", image: "debian-12" }, status: 422, reply: error }))).toEqual([]);
    expect(messages(exchange({ path: "/v1/servers/1", status: 404, reply: { error: { code: 7 } } }))[0]).toMatch(/^response: response body/);
  });

  it("loads every spec in ../shared/specs", () => {
    const files = readdirSync(specsDir()).filter((f) => /\.(json|yaml)$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      const doc = loadSpec(file);
      expect(Object.keys(doc.paths).length, file).toBeGreaterThan(0);
      expect(() => new OpenApiValidator(doc), file).not.toThrow();
    }
  });
});
