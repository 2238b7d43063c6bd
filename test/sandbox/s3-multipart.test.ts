/**
 * The S3 stand-in's multipart uploads and size limits, over real HTTP with header-signed requests
 * and presigned part URLs: the wire format (XML bodies, ETags, error codes) as S3 answers, with
 * its limits lowered so a "large" object is a few hundred KiB. The official SDK's view of the same
 * is in test/conformance/flows/aws-s3.ts; automna's own client in test/migrate/multipart.test.ts.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { multipartEtag, presignPart } from "../../src/lib/s3-multipart.js";
import { Secret } from "../../src/lib/redact.js";
import { signHeaders } from "../../src/lib/s3-presign.js";
import { EMPTY_SHA256, sha256Hex } from "../../src/lib/sigv4.js";
import { startS3Sandbox, type S3SandboxHandle } from "../../src/sandbox/s3.js";

const CREDS = { accessKeyId: "AKSANDBOXTEST03", secretAccessKey: "sandbox-secret-key-for-tests-0003" };
const KIB = 1024;
let dir: string;
let s3: S3SandboxHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "automna-s3-mp-"));
  // A single PUT up to 256 KiB, parts of 64 KiB..256 KiB, at most 8 of them.
  s3 = await startS3Sandbox({ dataDir: join(dir, "store"), credentials: [CREDS], buckets: ["automna"], limits: { maxPutBytes: 256 * KIB, minPartBytes: 64 * KIB, maxPartBytes: 256 * KIB, maxParts: 8 } });
});
afterAll(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply { status: number; headers: Headers; text: string }

async function call(method: string, path: string, body?: Buffer | string): Promise<Reply> {
  const url = new URL(`${s3.url}/automna/${path}`);
  const payload = body === undefined ? undefined : Buffer.from(body);
  const headers = signHeaders({
    method, url, region: "auto", accessKeyId: new Secret(CREDS.accessKeyId), secretAccessKey: new Secret(CREDS.secretAccessKey),
    payloadHash: payload ? sha256Hex(payload) : EMPTY_SHA256,
  });
  const res = await fetch(url, { method, headers, body: payload });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const tag = (r: Reply, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(r.text)?.[1];
const code = (r: Reply): string | undefined => tag(r, "Code");
const settings = () => ({ endpoint: s3.url, bucket: "automna", region: "auto", accessKeyId: new Secret(CREDS.accessKeyId), secretAccessKey: new Secret(CREDS.secretAccessKey) });

async function create(key: string): Promise<string> {
  const res = await call("POST", `${key}?uploads`);
  expect(res.status, res.text).toBe(200);
  expect(res.text).toContain("<InitiateMultipartUploadResult");
  return tag(res, "UploadId")!;
}

/** A part through a presigned part URL, as automna's hosts send them (curl -T). */
async function sendPart(key: string, uploadId: string, n: number, data: Buffer): Promise<Reply> {
  const res = await fetch(presignPart(settings(), key, uploadId, n, new Date()), { method: "PUT", body: data });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const completeBody = (parts: { n: number; etag: string }[]): string =>
  `<CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.n}</PartNumber><ETag>${p.etag}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;

describe("S3 stand-in: multipart uploads", () => {
  it("takes parts through presigned URLs, lists them, completes with S3's ETag and serves the whole object", async () => {
    const data = Buffer.alloc(600 * KIB);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
    const cuts = [data.subarray(0, 256 * KIB), data.subarray(256 * KIB, 512 * KIB), data.subarray(512 * KIB)];
    const id = await create("big/archive.tar");
    const etags: string[] = [];
    for (const [i, part] of cuts.entries()) {
      const res = await sendPart("big/archive.tar", id, i + 1, part);
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get("etag")).toBe(`"${createHash("md5").update(part).digest("hex")}"`);
      etags.push(res.headers.get("etag")!);
    }
    const listed = await call("GET", `big/archive.tar?uploadId=${encodeURIComponent(id)}`);
    expect(listed.text).toContain("<ListPartsResult");
    expect([...listed.text.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]))).toEqual([1, 2, 3]);
    const uploads = await call("GET", "?uploads&prefix=big/");
    expect(uploads.text).toContain(`<UploadId>${id}</UploadId>`);

    const done = await call("POST", `big/archive.tar?uploadId=${encodeURIComponent(id)}`, completeBody(etags.map((etag, i) => ({ n: i + 1, etag }))));
    expect(done.status, done.text).toBe(200);
    expect(done.text).toContain("<CompleteMultipartUploadResult");
    expect(tag(done, "ETag")).toBe(multipartEtag(etags).replace(/"/g, "&quot;"));
    const got = await call("HEAD", "big/archive.tar");
    expect([got.status, got.headers.get("content-length"), got.headers.get("etag")]).toEqual([200, String(data.length), multipartEtag(etags)]);
    const body = Buffer.from(await (await fetch(new URL(`${s3.url}/automna/big/archive.tar`), { headers: signHeaders({ method: "GET", url: new URL(`${s3.url}/automna/big/archive.tar`), region: "auto", accessKeyId: new Secret(CREDS.accessKeyId), secretAccessKey: new Secret(CREDS.secretAccessKey), payloadHash: EMPTY_SHA256 }) })).arrayBuffer());
    expect(sha256Hex(body)).toBe(sha256Hex(data));
    // Completed: the upload is gone.
    expect(code(await call("GET", `big/archive.tar?uploadId=${encodeURIComponent(id)}`))).toBe("NoSuchUpload");
    expect((await call("GET", "?uploads&prefix=big/")).text).not.toContain("<Upload>");
  });

  it("refuses a single PUT past the limit with EntityTooLarge and stores nothing", async () => {
    const res = await call("PUT", "too/large", Buffer.alloc(256 * KIB + 1));
    expect([res.status, code(res)]).toEqual([400, "EntityTooLarge"]);
    expect(tag(res, "MaxSizeAllowed")).toBe(String(256 * KIB));
    expect((await call("HEAD", "too/large")).status).toBe(404);
    expect((await call("PUT", "too/large", Buffer.alloc(256 * KIB))).status).toBe(200);
  });

  it("answers S3's errors: EntityTooLarge part, EntityTooSmall, InvalidPart, InvalidPartOrder, NoSuchUpload, InvalidArgument", async () => {
    const key = "errs/a.tar";
    const id = await create(key);
    const big = await sendPart(key, id, 1, Buffer.alloc(256 * KIB + 1));
    expect([big.status, code(big)]).toEqual([400, "EntityTooLarge"]);
    const outOfRange = await sendPart(key, id, 9, Buffer.alloc(10));
    expect([outOfRange.status, code(outOfRange)]).toEqual([400, "InvalidArgument"]);
    const small = await sendPart(key, id, 1, Buffer.alloc(10 * KIB, 1));
    const last = await sendPart(key, id, 2, Buffer.alloc(10 * KIB, 2));
    const e1 = small.headers.get("etag")!;
    const e2 = last.headers.get("etag")!;
    const tooSmall = await call("POST", `${key}?uploadId=${encodeURIComponent(id)}`, completeBody([{ n: 1, etag: e1 }, { n: 2, etag: e2 }]));
    expect([tooSmall.status, code(tooSmall)]).toEqual([400, "EntityTooSmall"]);
    const order = await call("POST", `${key}?uploadId=${encodeURIComponent(id)}`, completeBody([{ n: 2, etag: e2 }, { n: 1, etag: e1 }]));
    expect([order.status, code(order)]).toEqual([400, "InvalidPartOrder"]);
    const wrong = await call("POST", `${key}?uploadId=${encodeURIComponent(id)}`, completeBody([{ n: 1, etag: e2 }]));
    expect([wrong.status, code(wrong)]).toEqual([400, "InvalidPart"]);
    const missing = await call("POST", `${key}?uploadId=${encodeURIComponent(id)}`, completeBody([{ n: 3, etag: e1 }]));
    expect([missing.status, code(missing)]).toEqual([400, "InvalidPart"]);
    const malformed = await call("POST", `${key}?uploadId=${encodeURIComponent(id)}`, "<nope/>");
    expect([malformed.status, code(malformed)]).toEqual([400, "MalformedXML"]);
    // A last part alone may be small.
    const alone = await call("POST", `${key}?uploadId=${encodeURIComponent(id)}`, completeBody([{ n: 2, etag: e2 }]));
    expect(alone.status, alone.text).toBe(200);
    expect(code(await call("POST", `${key}?uploadId=${encodeURIComponent(id)}`, completeBody([{ n: 2, etag: e2 }])))).toBe("NoSuchUpload");
  });

  it("aborts an upload: its parts go, later parts and listings answer NoSuchUpload", async () => {
    const key = "abort/b.tar";
    const id = await create(key);
    expect((await sendPart(key, id, 1, Buffer.alloc(64 * KIB))).status).toBe(200);
    const abort = await call("DELETE", `${key}?uploadId=${encodeURIComponent(id)}`);
    expect(abort.status).toBe(204);
    const after = await sendPart(key, id, 2, Buffer.alloc(64 * KIB));
    expect([after.status, code(after)]).toEqual([404, "NoSuchUpload"]);
    expect(code(await call("GET", `${key}?uploadId=${encodeURIComponent(id)}`))).toBe("NoSuchUpload");
    expect((await call("GET", "?uploads&prefix=abort/")).text).not.toContain("<Upload>");
    // Aborting one that is gone: NoSuchUpload, as S3 answers.
    expect(code(await call("DELETE", `${key}?uploadId=${encodeURIComponent(id)}`))).toBe("NoSuchUpload");
  });

  it("pages ListParts and ListMultipartUploads with their markers", async () => {
    const ids = [await create("page/x"), await create("page/x"), await create("page/y")];
    const first = await call("GET", "?uploads&prefix=page/&max-uploads=2");
    expect(tag(first, "IsTruncated")).toBe("true");
    const next = await call("GET", `?uploads&prefix=page/&key-marker=${tag(first, "NextKeyMarker")}&upload-id-marker=${tag(first, "NextUploadIdMarker")}`);
    const seen = [...first.text.matchAll(/<UploadId>([^<]+)<\/UploadId>/g), ...next.text.matchAll(/<UploadId>([^<]+)<\/UploadId>/g)].map((m) => m[1]);
    expect(seen.sort()).toEqual([...ids].sort());
    for (const n of [1, 2, 3]) expect((await sendPart("page/y", ids[2]!, n, Buffer.alloc(64 * KIB, n))).status).toBe(200);
    const p1 = await call("GET", `page/y?uploadId=${encodeURIComponent(ids[2]!)}&max-parts=2`);
    expect([tag(p1, "IsTruncated"), tag(p1, "NextPartNumberMarker")]).toEqual(["true", "2"]);
    const p2 = await call("GET", `page/y?uploadId=${encodeURIComponent(ids[2]!)}&part-number-marker=2`);
    expect([...p2.text.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => m[1])).toEqual(["3"]);
  });
});
