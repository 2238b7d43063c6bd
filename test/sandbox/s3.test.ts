import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync, truncateSync, writeFileSync, readFileSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AuthError, ProviderApiError } from "../../src/lib/errors.js";
import { Secret } from "../../src/lib/redact.js";
import { StorageClient } from "../../src/lib/s3-objects.js";
import { presignUrl, signHeaders, type StorageSettings } from "../../src/lib/s3-presign.js";
import { sha256Hex } from "../../src/lib/sigv4.js";
import { startS3Sandbox, type S3SandboxHandle } from "../../src/sandbox/s3.js";

const run = promisify(execFile);
const CREDS = { accessKeyId: "AKSANDBOXTEST01", secretAccessKey: "sandbox-secret-key-for-tests-0001" };

let dir: string;
let s3: S3SandboxHandle;
let settings: StorageSettings;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "automna-s3-test-"));
  s3 = await startS3Sandbox({ dataDir: join(dir, "store"), credentials: [CREDS], buckets: ["automna"] });
  settings = { endpoint: s3.url, bucket: "automna", region: "auto", accessKeyId: new Secret(CREDS.accessKeyId), secretAccessKey: new Secret(CREDS.secretAccessKey) };
});

afterAll(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

function url(method: "GET" | "PUT", key: string, extra: Partial<Parameters<typeof presignUrl>[0]> = {}): string {
  return presignUrl({ method, key, endpoint: settings.endpoint, bucket: settings.bucket, region: settings.region, accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, expiresInSeconds: 600, ...extra });
}

/** curl as the migration runs it on a host; returns the HTTP status and the body it saved. */
async function curl(args: string[]): Promise<{ status: number; exit: number; stderr: string }> {
  try {
    const { stdout, stderr } = await run("curl", ["-sS", "-w", "%{http_code}", ...args], { maxBuffer: 1024 * 1024 });
    return { status: Number(stdout.slice(-3)), exit: 0, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { status: Number((e.stdout ?? "").slice(-3)), exit: e.code ?? -1, stderr: e.stderr ?? "" };
  }
}

function fileSha(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path).on("data", (c) => hash.update(c)).on("end", () => resolve(hash.digest("hex"))).on("error", reject);
  });
}

function xmlCode(path: string): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(readFileSync(path, "utf8"))?.[1];
}

describe("S3 stand-in with presigned URLs and the real curl", () => {
  it("uploads a multi-MB binary file with curl -T and downloads it byte-identical", async () => {
    const src = join(dir, "data.bin");
    const bytes = randomBytes(6 * 1024 * 1024 + 13);
    writeFileSync(src, bytes);
    const up = await curl(["-f", "-T", src, "-o", "/dev/null", url("PUT", "migrations/op-1/alice.tar")]);
    expect(up).toMatchObject({ exit: 0, status: 200 });
    const out = join(dir, "data.out");
    const down = await curl(["-f", "-o", out, url("GET", "migrations/op-1/alice.tar")]);
    expect(down).toMatchObject({ exit: 0, status: 200 });
    expect(await fileSha(out)).toBe(sha256Hex(bytes));
    const client = new StorageClient(settings);
    const head = await client.headObject("migrations/op-1/alice.tar");
    expect(head).toMatchObject({ size: bytes.length, etag: `"${createHash("md5").update(bytes).digest("hex")}"` });
    await client.close();
  });

  it("serves byte ranges with 206 and rejects unsatisfiable ones with 416 InvalidRange", async () => {
    writeFileSync(join(dir, "small.txt"), "0123456789abcdef");
    await curl(["-f", "-T", join(dir, "small.txt"), url("PUT", "small.txt")]);
    const out = join(dir, "range.out");
    expect((await curl(["-r", "4-9", "-o", out, url("GET", "small.txt")])).status).toBe(206);
    expect(readFileSync(out, "utf8")).toBe("456789");
    expect((await curl(["-r", "100-", "-o", out, url("GET", "small.txt")])).status).toBe(416);
    expect(xmlCode(out)).toBe("InvalidRange");
  });

  it("answers an expired URL with 403 AccessDenied 'Request has expired'", async () => {
    const expired = url("GET", "small.txt", { now: new Date(Date.now() - 3600_000), expiresInSeconds: 60 });
    const out = join(dir, "expired.xml");
    expect((await curl(["-o", out, expired])).status).toBe(403);
    const xml = readFileSync(out, "utf8");
    expect(xmlCode(out)).toBe("AccessDenied");
    expect(xml).toContain("<Message>Request has expired</Message>");
    expect(xml).toContain("<X-Amz-Expires>60</X-Amz-Expires>");
  });

  it("answers a tampered signature, a wrong method, a wrong secret and an unknown key with 403", async () => {
    const out = join(dir, "err.xml");
    const good = url("GET", "small.txt");
    const last = good.slice(-1) === "0" ? "1" : "0";
    expect((await curl(["-o", out, good.slice(0, -1) + last])).status).toBe(403);
    expect(xmlCode(out)).toBe("SignatureDoesNotMatch");

    // A GET URL used to upload: the method is part of what was signed.
    writeFileSync(join(dir, "evil.txt"), "overwrite");
    expect((await curl(["-T", join(dir, "evil.txt"), "-o", out, good])).status).toBe(403);
    expect(xmlCode(out)).toBe("SignatureDoesNotMatch");
    const check = join(dir, "check.txt");
    await curl(["-f", "-o", check, good]);
    expect(readFileSync(check, "utf8")).toBe("0123456789abcdef");

    expect((await curl(["-o", out, url("GET", "small.txt", { secretAccessKey: new Secret("not-the-right-secret-123") })])).status).toBe(403);
    expect(xmlCode(out)).toBe("SignatureDoesNotMatch");
    expect((await curl(["-o", out, url("GET", "small.txt", { accessKeyId: new Secret("AKUNKNOWN0000") })])).status).toBe(403);
    expect(xmlCode(out)).toBe("InvalidAccessKeyId");
    expect((await curl(["-o", out, `${s3.url}/automna/small.txt`])).status).toBe(403);
    expect(xmlCode(out)).toBe("AccessDenied");
  });

  it("answers missing keys and buckets with 404 NoSuchKey / NoSuchBucket", async () => {
    const out = join(dir, "nf.xml");
    expect((await curl(["-o", out, url("GET", "nope/missing.tar")])).status).toBe(404);
    expect(xmlCode(out)).toBe("NoSuchKey");
    expect(readFileSync(out, "utf8")).toContain("<Key>nope/missing.tar</Key>");
    expect((await curl(["-o", out, url("GET", "x", { bucket: "no-such-bucket" })])).status).toBe(404);
    expect(xmlCode(out)).toBe("NoSuchBucket");
  });

  it("refuses a chunked upload without Content-Length (411), like S3", async () => {
    const out = join(dir, "chunked.xml");
    const res = await run("sh", ["-c", `printf hello | curl -sS -w '%{http_code}' -T - -o ${out} '${url("PUT", "stdin.tar")}'`]);
    expect(res.stdout).toBe("411");
    expect(xmlCode(out)).toBe("MissingContentLength");
  });

  it("corrupts the next N downloads and fails the next N uploads on request", async () => {
    const src = join(dir, "fault.bin");
    const bytes = randomBytes(300_000);
    writeFileSync(src, bytes);
    s3.faults.failNextUploads(1);
    const failed = await curl(["-f", "-T", src, "-o", "/dev/null", url("PUT", "fault.bin")]);
    expect(failed.exit).toBe(22);
    expect(failed.status).toBe(500);
    expect(await new StorageClient(settings).headObject("fault.bin")).toBeUndefined();
    expect((await curl(["-f", "-T", src, "-o", "/dev/null", url("PUT", "fault.bin")])).status).toBe(200);

    s3.faults.corruptNextDownloads(1);
    const out = join(dir, "fault.out");
    expect((await curl(["-f", "-o", out, url("GET", "fault.bin")])).status).toBe(200);
    const got = readFileSync(out);
    expect(got.length).toBe(bytes.length);
    expect(sha256Hex(got)).not.toBe(sha256Hex(bytes));
    expect(s3.faults.pending).toEqual({ corruptDownloads: 0, failUploads: 0, heldParts: 0 });
    await curl(["-f", "-o", out, url("GET", "fault.bin")]);
    expect(sha256Hex(readFileSync(out))).toBe(sha256Hex(bytes));
  });

  it("streams an object of hundreds of MB without holding it in memory", async () => {
    const src = join(dir, "big.bin");
    const size = 160 * 1024 * 1024;
    closeSync(openSync(src, "w"));
    truncateSync(src, size);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 5);
    try {
      expect((await curl(["-f", "-T", src, "-o", "/dev/null", url("PUT", "big.bin")])).status).toBe(200);
      // Hash the download as it streams, as a host would, instead of writing it to disk again.
      const { stdout } = await run("sh", ["-c", `curl -sSf '${url("GET", "big.bin")}' | sha256sum`]);
      expect(stdout.split(" ")[0]).toBe(await fileSha(src));
    } finally {
      clearInterval(sampler);
      rmSync(src);
    }
    // Buffering the object would need all 160 MiB at once; streaming leaves only chunks (and
    // garbage the collector has not reclaimed yet).
    expect(peak).toBeLessThan(112 * 1024 * 1024);
  });
});

describe("header-signed requests and the CLI-side client", () => {
  it("rejects a body whose sha256 differs from the signed x-amz-content-sha256", async () => {
    const target = new URL(`${s3.url}/automna/signed.txt`);
    const headers = signHeaders({ method: "PUT", url: target, region: "auto", accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, payloadHash: sha256Hex("expected") });
    const res = await request(target, { method: "PUT", headers, body: "something else" });
    expect(res.statusCode).toBe(400);
    expect(await res.body.text()).toContain("<Code>XAmzContentSHA256Mismatch</Code>");
    const ok = signHeaders({ method: "PUT", url: target, region: "auto", accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, payloadHash: sha256Hex("expected") });
    const res2 = await request(target, { method: "PUT", headers: ok, body: "expected" });
    expect(res2.statusCode).toBe(200);
    expect(res2.headers.etag).toBe(`"${createHash("md5").update("expected").digest("hex")}"`);
    await res2.body.dump();
  });

  it("rejects a header-signed request whose clock is 20 minutes off with RequestTimeTooSkewed", async () => {
    const target = new URL(`${s3.url}/automna/signed.txt`);
    const headers = signHeaders({ method: "GET", url: target, region: "auto", accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, now: new Date(Date.now() - 20 * 60_000) });
    const res = await request(target, { method: "GET", headers });
    expect(res.statusCode).toBe(403);
    expect(await res.body.text()).toContain("<Code>RequestTimeTooSkewed</Code>");
  });

  it("lists with a prefix across continuation pages, heads and deletes", async () => {
    for (const name of ["b/1", "b/2", "b/3", "b/sub/4", "c/5"]) {
      writeFileSync(join(dir, "obj"), name);
      await curl(["-f", "-T", join(dir, "obj"), url("PUT", `backups/${name}`)]);
    }
    const client = new StorageClient(settings);
    expect((await client.listObjects("backups/b/")).map((o) => o.key)).toEqual(["backups/b/1", "backups/b/2", "backups/b/3", "backups/b/sub/4"]);
    // Page by hand: max-keys=2 with a delimiter folds b/ and c/ into common prefixes.
    const target = new URL(`${s3.url}/automna?list-type=2&prefix=backups%2F&delimiter=%2F&max-keys=1`);
    const headers = signHeaders({ method: "GET", url: target, region: "auto", accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey });
    const xml = await (await request(target, { headers })).body.text();
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<ListBucketResult xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/">/);
    expect(xml).toContain("<KeyCount>1</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>true</IsTruncated>");
    expect(xml).toContain("<CommonPrefixes><Prefix>backups/b/</Prefix></CommonPrefixes>");
    const next = /<NextContinuationToken>([^<]+)</.exec(xml)![1]!;
    const target2 = new URL(`${s3.url}/automna?list-type=2&prefix=backups%2F&delimiter=%2F&max-keys=1&continuation-token=${next}`);
    const xml2 = await (await request(target2, { headers: signHeaders({ method: "GET", url: target2, region: "auto", accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }) })).body.text();
    expect(xml2).toContain("<CommonPrefixes><Prefix>backups/c/</Prefix></CommonPrefixes>");
    expect(xml2).toContain("<IsTruncated>false</IsTruncated>");

    await client.deleteObject("backups/b/1");
    await client.deleteObject("backups/b/1");
    expect(await client.headObject("backups/b/1")).toBeUndefined();
    expect((await client.listObjects("backups/")).length).toBe(4);
    await client.close();
  });

  it("reports rejected credentials as an AuthError that never shows the secret", async () => {
    const client = new StorageClient({ ...settings, secretAccessKey: new Secret("wrong-secret-do-not-print-42") });
    const error = await client.listObjects("backups/").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).message).toBe("object storage rejected the credentials: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.");
    expect((error as AuthError).hint).toContain("AUTOMNA_STORAGE_SECRET_ACCESS_KEY");
    expect(((error as AuthError).cause as ProviderApiError).status).toBe(403);
    expect(JSON.stringify(error) + String(error)).not.toContain("wrong-secret-do-not-print-42");
    await client.close();
  });

  it("keeps objects on disk across a restart of the stand-in", async () => {
    await s3.close();
    s3 = await startS3Sandbox({ dataDir: join(dir, "store"), credentials: [CREDS], buckets: ["automna"] });
    settings = { ...settings, endpoint: s3.url };
    const out = join(dir, "after-restart.txt");
    expect((await curl(["-f", "-o", out, url("GET", "small.txt")])).status).toBe(200);
    expect(readFileSync(out, "utf8")).toBe("0123456789abcdef");
    // The log entry is written when the response closes, which may land after curl exits.
    await vi.waitFor(() => expect(s3.requests.at(-1)).toEqual({ method: "GET", bucket: "automna", key: "small.txt", status: 200, presigned: true }));
  });
});
