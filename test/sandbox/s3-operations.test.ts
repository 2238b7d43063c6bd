/**
 * The S3 stand-in beyond plain PUT/GET: aws-chunked uploads (signed chunks, signed and unsigned
 * trailers), user metadata, checksums, CopyObject, preconditions, and S3's own 501 NotImplemented
 * for every operation, subresource or header it does not model (never a success that did
 * something else). The official SDK's view of the same is in test/conformance/flows/aws-s3.ts.
 */
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../../src/lib/redact.js";
import { signHeaders } from "../../src/lib/s3-presign.js";
import { EMPTY_SHA256, sha256Hex, signingKey } from "../../src/lib/sigv4.js";
import { startS3Sandbox, type S3SandboxHandle } from "../../src/sandbox/s3.js";

const CREDS = { accessKeyId: "AKSANDBOXTEST02", secretAccessKey: "sandbox-secret-key-for-tests-0002" };
let dir: string;
let s3: S3SandboxHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "automna-s3-ops-"));
  s3 = await startS3Sandbox({ dataDir: join(dir, "store"), credentials: [CREDS], buckets: ["automna"] });
});
afterAll(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply { status: number; headers: Headers; text: string }

async function call(method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer | string; payloadHash?: string } = {}): Promise<Reply> {
  const url = new URL(`${s3.url}/automna/${path}`);
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers = signHeaders({
    method, url, region: "auto", accessKeyId: new Secret(CREDS.accessKeyId), secretAccessKey: new Secret(CREDS.secretAccessKey),
    payloadHash: options.payloadHash ?? (body ? sha256Hex(body) : EMPTY_SHA256), headers: options.headers,
  });
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const code = (r: Reply): string | undefined => /<Code>([^<]+)<\/Code>/.exec(r.text)?.[1];
const crc = (data: Buffer): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32(data));
  return b.toString("base64");
};

/** A SigV4 streaming upload: the seed signature from the headers, then each chunk's and the trailer's. */
function signedChunks(seedAuth: string, date: string, chunks: Buffer[], trailer?: [string, string]): Buffer {
  const seed = /Signature=([0-9a-f]{64})/.exec(seedAuth)![1]!;
  const key = signingKey(CREDS.secretAccessKey, date.slice(0, 8), "auto", "s3");
  const scope = `${date.slice(0, 8)}/auto/s3/aws4_request`;
  const hmac = (s: string): string => createHmac("sha256", key).update(s).digest("hex");
  let previous = seed;
  const parts: Buffer[] = [];
  for (const data of [...chunks, Buffer.alloc(0)]) {
    const sig = hmac(["AWS4-HMAC-SHA256-PAYLOAD", date, scope, previous, EMPTY_SHA256, sha256Hex(data)].join("\n"));
    previous = sig;
    parts.push(Buffer.from(`${data.length.toString(16)};chunk-signature=${sig}\r\n`), data, Buffer.from(data.length ? "\r\n" : ""));
  }
  if (trailer) {
    const line = `${trailer[0]}:${trailer[1]}\n`;
    const sig = hmac(["AWS4-HMAC-SHA256-TRAILER", date, scope, previous, createHash("sha256").update(line).digest("hex")].join("\n"));
    parts.push(Buffer.from(`${trailer[0]}:${trailer[1]}\r\nx-amz-trailer-signature:${sig}\r\n`));
  }
  parts.push(Buffer.from("\r\n"));
  return Buffer.concat(parts);
}

async function streamingPut(key: string, chunks: Buffer[], mode: "signed" | "signed-trailer" | "unsigned-trailer", tamper?: (body: Buffer) => Buffer): Promise<Reply> {
  const data = Buffer.concat(chunks);
  const payloadHash = { signed: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "signed-trailer": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "unsigned-trailer": "STREAMING-UNSIGNED-PAYLOAD-TRAILER" }[mode];
  const trailer: [string, string] | undefined = mode === "signed" ? undefined : ["x-amz-checksum-crc32", crc(data)];
  const extra: Record<string, string> = { "content-encoding": "aws-chunked", "x-amz-decoded-content-length": String(data.length), "x-amz-meta-mode": mode };
  if (trailer) extra["x-amz-trailer"] = trailer[0];
  const url = new URL(`${s3.url}/automna/${key}`);
  const headers = signHeaders({ method: "PUT", url, region: "auto", accessKeyId: new Secret(CREDS.accessKeyId), secretAccessKey: new Secret(CREDS.secretAccessKey), payloadHash, headers: extra });
  let body = mode === "unsigned-trailer"
    ? Buffer.concat([...chunks.flatMap((c) => [Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from("\r\n")]), Buffer.from(`0\r\n${trailer![0]}:${trailer![1]}\r\n\r\n`)])
    : signedChunks(headers.authorization!, headers["x-amz-date"]!, chunks, trailer);
  if (tamper) body = tamper(body);
  const res = await fetch(url, { method: "PUT", headers, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe("S3 stand-in: aws-chunked uploads", () => {
  const chunks = [Buffer.alloc(65536, 7), Buffer.from("tail bytes")];

  it.each(["signed", "signed-trailer", "unsigned-trailer"] as const)("%s: decoded, stored with its metadata and checksum", async (mode) => {
    const put = await streamingPut(`chunked/${mode}`, chunks, mode);
    expect(put.status, put.text).toBe(200);
    const get = await call("GET", `chunked/${mode}`, { headers: { "x-amz-checksum-mode": "ENABLED" } });
    expect(get.text).toBe(Buffer.concat(chunks).toString());
    expect(get.headers.get("x-amz-meta-mode")).toBe(mode);
    if (mode !== "signed") expect(get.headers.get("x-amz-checksum-crc32")).toBe(crc(Buffer.concat(chunks)));
    expect(get.headers.get("content-encoding")).toBeNull();
  });

  it("refuses a wrong chunk signature, a wrong trailer checksum and a cut-off body, storing nothing", async () => {
    // One byte of the first chunk's data changed in transit: its signature no longer matches.
    const tampered = await streamingPut("chunked/bad-sig", chunks, "signed", (b) => {
      const t = Buffer.from(b);
      t[200] = t[200]! ^ 1;
      return t;
    });
    expect([tampered.status, code(tampered)]).toEqual([403, "SignatureDoesNotMatch"]);
    const badSum = await streamingPut("chunked/bad-sum", chunks, "unsigned-trailer", (b) => Buffer.from(b.toString("latin1").replace(/crc32:[^\r]+/, `crc32:${crc(Buffer.from("other"))}`), "latin1"));
    expect([badSum.status, code(badSum)]).toEqual([400, "BadDigest"]);
    const cut = await streamingPut("chunked/cut", chunks, "unsigned-trailer", (b) => b.subarray(0, 1000));
    expect([cut.status, code(cut)]).toEqual([400, "IncompleteBody"]);
    expect((await call("HEAD", "chunked/bad-sum")).status).toBe(404);
    expect((await call("HEAD", "chunked/cut")).status).toBe(404);
  });
});

describe("S3 stand-in: metadata, checksums, copies and preconditions", () => {
  it("keeps content headers and x-amz-meta-*, checks a checksum header, and copies with COPY or REPLACE", async () => {
    const headers = { "content-type": "text/plain", "cache-control": "no-cache", "x-amz-meta-owner": "alice", "x-amz-checksum-crc32": crc(Buffer.from("hello")) };
    expect((await call("PUT", "meta/a", { body: "hello", headers })).status).toBe(200);
    const head = await call("HEAD", "meta/a");
    expect([head.headers.get("x-amz-meta-owner"), head.headers.get("cache-control"), head.headers.get("content-type")]).toEqual(["alice", "no-cache", "text/plain"]);
    const wrong = await call("PUT", "meta/b", { body: "hello", headers: { "x-amz-checksum-crc32": crc(Buffer.from("other")) } });
    expect([wrong.status, code(wrong)]).toEqual([400, "BadDigest"]);

    const copy = await call("PUT", "meta/copy", { headers: { "x-amz-copy-source": "/automna/meta/a" } });
    expect(copy.status, copy.text).toBe(200);
    expect(copy.text).toMatch(/<CopyObjectResult><LastModified>[^<]+<\/LastModified><ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;<\/ETag>/);
    const copied = await call("GET", "meta/copy");
    expect([copied.text, copied.headers.get("x-amz-meta-owner")]).toEqual(["hello", "alice"]);
    const replaced = await call("PUT", "meta/copy", { headers: { "x-amz-copy-source": "automna/meta%2Fa", "x-amz-metadata-directive": "REPLACE", "x-amz-meta-owner": "bob" } });
    expect(replaced.status).toBe(200);
    expect((await call("HEAD", "meta/copy")).headers.get("x-amz-meta-owner")).toBe("bob");
    const self = await call("PUT", "meta/a", { headers: { "x-amz-copy-source": "automna/meta/a" } });
    expect([self.status, code(self)]).toEqual([400, "InvalidRequest"]);
    const missing = await call("PUT", "meta/c", { headers: { "x-amz-copy-source": "automna/meta/none" } });
    expect([missing.status, code(missing)]).toEqual([404, "NoSuchKey"]);
  });

  it("answers If-None-Match and If-Match on GET and PUT", async () => {
    const put = await call("PUT", "cond/a", { body: "v1" });
    const etag = put.headers.get("etag")!;
    expect((await call("GET", "cond/a", { headers: { "if-none-match": etag } })).status).toBe(304);
    expect(code(await call("GET", "cond/a", { headers: { "if-match": '"other"' } }))).toBe("PreconditionFailed");
    expect(code(await call("PUT", "cond/a", { body: "v2", headers: { "if-none-match": "*" } }))).toBe("PreconditionFailed");
    expect((await call("PUT", "cond/a", { body: "v2", headers: { "if-match": etag } })).status).toBe(200);
    expect((await call("GET", "cond/a")).text).toBe("v2");
  });
});

describe("S3 stand-in: what it does not implement is NotImplemented", () => {
  it.each([
    ["PUT", "obj?tagging", "PUT object ?tagging"],
    ["POST", "obj?restore", "RestoreObject"],
    ["GET", "obj?versionId=3", "GetObject by version or part"],
    ["GET", "obj?acl", "GET object ?acl"],
    ["GET", "?versioning", "GET bucket ?versioning"],
    ["POST", "?delete", "DeleteObjects"],
    ["GET", "obj?colour=red", "GET with ?colour"],
  ])("%s /automna/%s", async (method, path, what) => {
    const res = await call(method, path, method === "PUT" || method === "POST" ? { body: "<x/>" } : {});
    expect([res.status, code(res)]).toEqual([501, "NotImplemented"]);
    expect(res.text).toContain(`${what} is not implemented by the sandbox`);
  });

  it("refuses headers that change what an upload does, and does not write the object", async () => {
    for (const [name, value] of [["x-amz-server-side-encryption", "aws:kms"], ["x-amz-tagging", "a=b"], ["x-amz-storage-class", "GLACIER"]]) {
      const res = await call("PUT", "refused", { body: "x", headers: { [name!]: value! } });
      expect([res.status, code(res), res.text.includes(`<Header>${name}</Header>`)]).toEqual([501, "NotImplemented", true]);
    }
    expect((await call("HEAD", "refused")).status).toBe(404);
    expect((await call("PUT", "allowed", { body: "x", headers: { "x-amz-storage-class": "STANDARD", "x-amz-acl": "private" } })).status).toBe(200);
  });
});
