import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { crc32 } from "node:zlib";
import { S3Error } from "./s3-errors.js";

/**
 * S3's additional checksums: `x-amz-checksum-<alg>` sent as a header (or as an aws-chunked
 * trailer named by `x-amz-trailer`), verified against the bytes received, stored with the object
 * and returned by GET/HEAD when asked with `x-amz-checksum-mode: ENABLED`. CRC32, CRC32C, SHA-1
 * and SHA-256 are verified; CRC64NVME is refused with NotImplemented rather than stored unchecked.
 */

export const CHECKSUM_ALGORITHMS = ["crc32", "crc32c", "sha1", "sha256"] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export interface StoredChecksum {
  algorithm: ChecksumAlgorithm;
  /** base64 of the digest, as the header carries it. */
  value: string;
}

export interface Hasher {
  update(chunk: Buffer): void;
  base64(): string;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crcBase64(value: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out.toString("base64");
}

export function checksumHasher(algorithm: ChecksumAlgorithm): Hasher {
  if (algorithm === "sha1" || algorithm === "sha256") {
    const hash = createHash(algorithm);
    return { update: (chunk) => void hash.update(chunk), base64: () => hash.digest("base64") };
  }
  if (algorithm === "crc32") {
    let value = 0;
    return { update: (chunk) => void (value = crc32(chunk, value)), base64: () => crcBase64(value) };
  }
  let crc = 0xffffffff;
  return {
    update: (chunk) => {
      for (const byte of chunk) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
    },
    base64: () => crcBase64(crc ^ 0xffffffff),
  };
}

/** The checksum a request commits to: its value now (header) or at the end of the body (trailer). */
export interface RequestedChecksum {
  algorithm: ChecksumAlgorithm;
  /** From the header; undefined when it comes as a trailer. */
  value: string | undefined;
  /** The trailer's name (`x-amz-checksum-crc32`) when the value comes after the body. */
  trailer: string | undefined;
}

function algorithmOf(name: string): ChecksumAlgorithm {
  const alg = name.toLowerCase().replace(/^x-amz-checksum-/, "");
  if ((CHECKSUM_ALGORITHMS as readonly string[]).includes(alg)) return alg as ChecksumAlgorithm;
  if (alg === "crc64nvme") throw new S3Error(501, "NotImplemented", "The sandbox does not implement the CRC64NVME checksum; use CRC32, CRC32C, SHA1 or SHA256", { Header: name });
  throw new S3Error(400, "InvalidRequest", `Value for x-amz-checksum-algorithm header is invalid: ${alg}`);
}

/**
 * Reads `x-amz-checksum-<alg>`, `x-amz-trailer` and `x-amz-sdk-checksum-algorithm` as S3 does: at
 * most one checksum, its value base64 of the right length, and an SDK algorithm header only
 * together with a checksum it names.
 */
export function requestedChecksum(headers: IncomingHttpHeaders): RequestedChecksum | undefined {
  const named = Object.keys(headers).filter((h) => h.startsWith("x-amz-checksum-") && h !== "x-amz-checksum-mode" && h !== "x-amz-checksum-type" && h !== "x-amz-checksum-algorithm");
  const trailer = typeof headers["x-amz-trailer"] === "string" ? headers["x-amz-trailer"].trim().toLowerCase() : undefined;
  if (named.length + (trailer ? 1 : 0) > 1) throw new S3Error(400, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.");
  const sdk = headers["x-amz-sdk-checksum-algorithm"];
  let found: RequestedChecksum | undefined;
  if (named.length === 1) {
    const value = String(headers[named[0]!]);
    found = { algorithm: algorithmOf(named[0]!), value, trailer: undefined };
    const bytes = Buffer.from(value, "base64");
    const expected = found.algorithm === "sha256" ? 32 : found.algorithm === "sha1" ? 20 : 4;
    if (bytes.length !== expected || bytes.toString("base64") !== value) {
      throw new S3Error(400, "InvalidRequest", `Value for ${named[0]} header is invalid.`);
    }
  } else if (trailer) {
    if (!trailer.startsWith("x-amz-checksum-")) throw new S3Error(400, "InvalidRequest", `The sandbox only accepts a checksum as trailer, got ${trailer}`);
    found = { algorithm: algorithmOf(trailer), value: undefined, trailer };
  }
  if (typeof sdk === "string" && (!found || found.algorithm !== sdk.toLowerCase())) {
    throw new S3Error(400, "InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.");
  }
  return found;
}

/** The BadDigest S3 answers when a checksum does not match the bytes. */
export function checksumMismatch(algorithm: ChecksumAlgorithm): S3Error {
  return new S3Error(400, "BadDigest", `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`);
}
