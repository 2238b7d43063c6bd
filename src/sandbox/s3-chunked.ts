import { createHash, createHmac } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { EMPTY_SHA256, signaturesEqual } from "../lib/sigv4.js";
import { S3Error } from "./s3-errors.js";

/**
 * Decodes an `aws-chunked` upload body (`x-amz-content-sha256: STREAMING-...`) into the object's
 * bytes: chunks `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n`, a final zero-size chunk, then
 * trailer lines (`x-amz-checksum-crc32:<b64>`, and `x-amz-trailer-signature:<sig>` when signed)
 * and an empty line. Signed variants chain every chunk's signature from the request's own (the
 * seed) and the trailer's from the last chunk's, as S3 documents for SigV4 streaming uploads.
 */

export interface ChunkSigning {
  /** The derived SigV4 signing key of the request's scope. */
  key: Buffer;
  timestamp: string;
  scope: string;
  /** The request's Authorization signature: the first chunk's "previous signature". */
  seed: string;
}

const MAX_LINE = 4096;
const CRLF = Buffer.from("\r\n");

type State = "size" | "data" | "data-end" | "trailer" | "done";

export class AwsChunkedDecoder extends Transform {
  /** Trailer headers received after the last chunk (lower-case names). */
  readonly trailers = new Map<string, string>();
  /** Bytes of object data passed on. */
  decodedBytes = 0;
  readonly #signing: ChunkSigning | undefined;
  #previous: string;
  #state: State = "size";
  #line = Buffer.alloc(0);
  #remaining = 0;
  #chunkSignature: string | undefined;
  #chunkHash = createHash("sha256");

  constructor(signing: ChunkSigning | undefined) {
    super();
    this.#signing = signing;
    this.#previous = signing?.seed ?? "";
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.#consume(chunk);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    // The JS SDK ends an upload without a checksum right after `0\r\n`, with no empty line.
    if (this.#state === "trailer" && this.#line.length === 0) {
      try {
        this.#checkTrailerSignature();
      } catch (error) {
        done(error as Error);
        return;
      }
      this.#state = "done";
    }
    done(this.#state === "done" ? null : incomplete());
  }

  #consume(input: Buffer): void {
    let buf = input;
    while (buf.length > 0) {
      if (this.#state === "data") {
        const take = Math.min(this.#remaining, buf.length);
        const piece = buf.subarray(0, take);
        if (this.#signing) this.#chunkHash.update(piece);
        this.push(piece);
        this.decodedBytes += take;
        this.#remaining -= take;
        buf = buf.subarray(take);
        if (this.#remaining === 0) this.#state = "data-end";
        continue;
      }
      if (this.#state === "done") throw malformed("data after the end of the aws-chunked body");
      const eol = buf.indexOf(CRLF);
      if (eol === -1) {
        this.#line = Buffer.concat([this.#line, buf]);
        if (this.#line.length > MAX_LINE) throw malformed("a chunk header or trailer line is too long");
        return;
      }
      const line = Buffer.concat([this.#line, buf.subarray(0, eol)]).toString("latin1");
      this.#line = Buffer.alloc(0);
      buf = buf.subarray(eol + 2);
      this.#onLine(line);
    }
  }

  #onLine(line: string): void {
    if (this.#state === "data-end") {
      if (line !== "") throw malformed("chunk data is longer than its declared size");
      this.#endChunk();
      this.#state = "size";
      return;
    }
    if (this.#state === "size") {
      const m = /^([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(line);
      if (!m) throw malformed(`bad chunk header "${line.slice(0, 80)}"`);
      if (this.#signing && !m[2]) throw new S3Error(403, "SignatureDoesNotMatch", "A chunk of a signed aws-chunked upload has no chunk-signature.");
      this.#remaining = parseInt(m[1]!, 16);
      this.#chunkSignature = m[2];
      this.#chunkHash = createHash("sha256");
      if (this.#remaining === 0) {
        this.#endChunk();
        this.#state = "trailer";
      } else this.#state = "data";
      return;
    }
    // Trailer lines until the empty one that ends the body.
    if (line === "") {
      this.#checkTrailerSignature();
      this.#state = "done";
      return;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw malformed(`bad trailer line "${line.slice(0, 80)}"`);
    this.trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }

  /** Verifies the signature of the chunk just read (the zero-size last one included). */
  #endChunk(): void {
    const s = this.#signing;
    if (!s) return;
    const hash = this.#remaining === 0 && this.#state === "size" ? EMPTY_SHA256 : this.#chunkHash.digest("hex");
    const toSign = ["AWS4-HMAC-SHA256-PAYLOAD", s.timestamp, s.scope, this.#previous, EMPTY_SHA256, hash].join("\n");
    const expected = createHmac("sha256", s.key).update(toSign, "utf8").digest("hex");
    if (!signaturesEqual(expected, this.#chunkSignature ?? "")) {
      throw new S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided (aws-chunked chunk signature).");
    }
    this.#previous = expected;
  }

  #checkTrailerSignature(): void {
    const s = this.#signing;
    const provided = this.trailers.get("x-amz-trailer-signature");
    this.trailers.delete("x-amz-trailer-signature");
    if (!s || this.trailers.size === 0) return;
    if (!provided) throw new S3Error(403, "SignatureDoesNotMatch", "The trailer of a signed aws-chunked upload has no x-amz-trailer-signature.");
    const canonical = [...this.trailers].map(([k, v]) => `${k}:${v}\n`).join("");
    const toSign = ["AWS4-HMAC-SHA256-TRAILER", s.timestamp, s.scope, this.#previous, createHash("sha256").update(canonical).digest("hex")].join("\n");
    const expected = createHmac("sha256", s.key).update(toSign, "utf8").digest("hex");
    if (!signaturesEqual(expected, provided)) {
      throw new S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided (aws-chunked trailer signature).");
    }
  }
}

function malformed(detail: string): S3Error {
  return new S3Error(400, "IncompleteBody", `The aws-chunked request body is malformed: ${detail}.`);
}

function incomplete(): S3Error {
  return new S3Error(400, "IncompleteBody", "The aws-chunked request body ended before its final chunk and trailer.");
}
