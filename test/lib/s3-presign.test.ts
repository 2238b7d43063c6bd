import { describe, expect, it } from "vitest";
import { ConfigError, UsageError } from "../../src/lib/errors.js";
import { Secret, redact } from "../../src/lib/redact.js";
import { presignRequest, presignUrl, redactPresignedUrl, signHeaders } from "../../src/lib/s3-presign.js";
import { canonicalQuery, uriEncode } from "../../src/lib/sigv4.js";
import { verifyRequest } from "../../src/sandbox/s3-auth.js";
import { S3Error } from "../../src/sandbox/s3-errors.js";

// The example credentials and expected signatures published in the AWS S3 SigV4 documentation
// ("Authenticating Requests: Using Query Parameters" and the header-based GET Object example).
const AWS_KEY = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AWS_TIME = new Date("2013-05-24T00:00:00Z");
const EXAMPLE_URL = new URL("https://examplebucket.s3.amazonaws.com/test.txt");

describe("SigV4 against the AWS published examples", () => {
  it("presigned GET examplebucket/test.txt matches the documented signature", () => {
    const url = presignRequest({
      method: "GET",
      url: EXAMPLE_URL,
      region: "us-east-1",
      accessKeyId: new Secret(AWS_KEY),
      secretAccessKey: new Secret(AWS_SECRET),
      expiresInSeconds: 86400,
      now: AWS_TIME,
    });
    expect(url).toBe(
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    );
  });

  it("header-signed GET with Range matches the documented signature", () => {
    const headers = signHeaders({
      method: "GET",
      url: EXAMPLE_URL,
      region: "us-east-1",
      accessKeyId: new Secret(AWS_KEY),
      secretAccessKey: new Secret(AWS_SECRET),
      headers: { Range: "bytes=0-9" },
      now: AWS_TIME,
    });
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    expect(headers["x-amz-date"]).toBe("20130524T000000Z");
  });

  it("the sandbox verifier accepts the published presigned request and rejects it a day later", () => {
    const url = new URL(presignRequest({
      method: "GET", url: EXAMPLE_URL, region: "us-east-1", accessKeyId: new Secret(AWS_KEY),
      secretAccessKey: new Secret(AWS_SECRET), expiresInSeconds: 86400, now: AWS_TIME,
    }));
    const query = [...url.searchParams.entries()];
    const input = {
      method: "GET", canonicalUri: "/test.txt", query, headers: { host: url.host }, region: "us-east-1",
      secrets: new Map([[AWS_KEY, AWS_SECRET]]),
    };
    expect(verifyRequest({ ...input, now: new Date("2013-05-24T12:00:00Z") })).toEqual({ accessKeyId: AWS_KEY, payloadSha256: undefined, presigned: true });
    let caught: unknown;
    try {
      verifyRequest({ ...input, now: new Date("2013-05-25T00:00:01Z") });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(S3Error);
    expect((caught as S3Error).code).toBe("AccessDenied");
    expect((caught as S3Error).message).toBe("Request has expired");
    expect((caught as S3Error).status).toBe(403);
  });
});

describe("presignUrl", () => {
  const base = {
    endpoint: "http://127.0.0.1:9000",
    bucket: "automna",
    region: "auto",
    accessKeyId: new Secret("AKTESTKEY123"),
    secretAccessKey: new Secret("test-secret-value-0123456789"),
    expiresInSeconds: 900,
    now: new Date("2026-01-02T03:04:05Z"),
  };

  it("builds a path-style URL with the key encoded once and the query parameters sorted", () => {
    const url = new URL(presignUrl({ ...base, method: "PUT", key: "migrations/op 1/alice+data~.tar" }));
    expect(url.origin).toBe("http://127.0.0.1:9000");
    expect(url.pathname).toBe("/automna/migrations/op%201/alice%2Bdata~.tar");
    expect([...url.searchParams.keys()]).toEqual([
      "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature",
    ]);
    expect(url.searchParams.get("X-Amz-Credential")).toBe("AKTESTKEY123/20260102/auto/s3/aws4_request");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("signs the method: the same key for GET and PUT gives different signatures", () => {
    const put = new URL(presignUrl({ ...base, method: "PUT", key: "k" })).searchParams.get("X-Amz-Signature");
    const get = new URL(presignUrl({ ...base, method: "GET", key: "k" })).searchParams.get("X-Amz-Signature");
    expect(put).not.toBe(get);
  });

  it("rejects lifetimes past a week, empty keys and endpoints with a path", () => {
    expect(() => presignUrl({ ...base, method: "GET", key: "k", expiresInSeconds: 604801 })).toThrow(UsageError);
    expect(() => presignUrl({ ...base, method: "GET", key: "" })).toThrow(UsageError);
    expect(() => presignUrl({ ...base, method: "GET", key: "k", endpoint: "http://127.0.0.1:9000/prefix" })).toThrow(ConfigError);
  });

  it("never contains the secret, and redaction hides the signature and key id", () => {
    const url = presignUrl({ ...base, method: "GET", key: "k" });
    expect(url).not.toContain("test-secret-value-0123456789");
    const shown = redactPresignedUrl(url);
    expect(shown).toMatch(/X-Amz-Signature=\*\*\*$/);
    expect(shown).toContain("X-Amz-Credential=***%2F20260102");
    expect(shown).not.toContain("AKTESTKEY123");
    // The global redactor (what --debug output passes through) masks signatures too.
    expect(redact(`GET ${url}`)).not.toMatch(/X-Amz-Signature=[0-9a-f]{64}/);
  });
});

describe("SigV4 encoding", () => {
  it("encodes everything but unreserved characters, slashes only when asked", () => {
    expect(uriEncode("a b/c~d*é")).toBe("a%20b%2Fc~d%2A%C3%A9");
    expect(uriEncode("a b/c", true)).toBe("a%20b/c");
  });

  it("sorts the canonical query by name then value and keeps empty values", () => {
    expect(canonicalQuery([["b", "2"], ["a", ""], ["b", "1"], ["list-type", "2"]])).toBe("a=&b=1&b=2&list-type=2");
  });
});
