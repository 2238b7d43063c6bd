import type { IncomingHttpHeaders } from "node:http";
import { S3Error } from "./s3-errors.js";
import { RESPONSE_OVERRIDE_PARAMS } from "./s3-object-headers.js";

/**
 * Which S3 operation a request is, told apart as S3 does: by method, by whether it names a bucket
 * and a key, by its subresource query parameters (`?tagging`, `?uploads`, ...) and by a few
 * headers (`x-amz-copy-source`). The table drives the dispatch and the sandbox's documentation.
 * Anything not implemented, including an unknown query parameter or a header that changes what an
 * operation does (encryption, tagging, object lock, ACL grants), is answered with S3's own 501
 * `NotImplemented`, never with a success that did something else.
 */

export type S3Level = "service" | "bucket" | "object";

export type ImplementedOperation =
  | "ListObjectsV2" | "ListMultipartUploads" | "HeadBucket" | "CreateBucket" | "DeleteBucket"
  | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" | "AbortMultipartUpload" | "ListParts"
  | "PutObject" | "CopyObject" | "GetObject" | "HeadObject" | "DeleteObject";

interface OperationSpec {
  name: ImplementedOperation;
  method: string;
  level: S3Level;
  /** Query parameters it takes besides the auth ones and `x-id`. */
  params: readonly string[];
  /** A header that must be present (CopyObject's source). */
  header?: string;
  /** A query parameter that must be present with this value. */
  requires?: readonly [string, string];
  /** Query parameters that must be present (any value): the subresource naming the operation. */
  present?: readonly string[];
  /** A header that must be absent (UploadPart with `x-amz-copy-source` is UploadPartCopy). */
  absent?: string;
}

export const S3_OPERATIONS: readonly OperationSpec[] = [
  { name: "ListObjectsV2", method: "GET", level: "bucket", params: ["list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "encoding-type"], requires: ["list-type", "2"] },
  { name: "ListMultipartUploads", method: "GET", level: "bucket", params: ["uploads", "prefix", "max-uploads", "key-marker", "upload-id-marker"], present: ["uploads"] },
  { name: "HeadBucket", method: "HEAD", level: "bucket", params: [] },
  { name: "CreateBucket", method: "PUT", level: "bucket", params: [] },
  { name: "DeleteBucket", method: "DELETE", level: "bucket", params: [] },
  // The multipart operations before the plain ones: they are told apart by their subresource.
  { name: "CreateMultipartUpload", method: "POST", level: "object", params: ["uploads"], present: ["uploads"] },
  { name: "UploadPart", method: "PUT", level: "object", params: ["partNumber", "uploadId"], present: ["partNumber", "uploadId"], absent: "x-amz-copy-source" },
  { name: "CompleteMultipartUpload", method: "POST", level: "object", params: ["uploadId"], present: ["uploadId"] },
  { name: "AbortMultipartUpload", method: "DELETE", level: "object", params: ["uploadId"], present: ["uploadId"] },
  { name: "ListParts", method: "GET", level: "object", params: ["uploadId", "max-parts", "part-number-marker"], present: ["uploadId"] },
  { name: "CopyObject", method: "PUT", level: "object", params: [], header: "x-amz-copy-source" },
  { name: "PutObject", method: "PUT", level: "object", params: [] },
  { name: "GetObject", method: "GET", level: "object", params: RESPONSE_OVERRIDE_PARAMS },
  { name: "HeadObject", method: "HEAD", level: "object", params: [] },
  { name: "DeleteObject", method: "DELETE", level: "object", params: [] },
];

/** Operations the sandbox refuses with NotImplemented, by the subresource that names them. */
export const S3_REFUSED: readonly { name: string; methods: readonly string[]; level: S3Level; subresource?: string }[] = [
  { name: "ListBuckets", methods: ["GET"], level: "service" },
  { name: "ListObjects (v1)", methods: ["GET"], level: "bucket" },
  { name: "ListObjectVersions", methods: ["GET"], level: "bucket", subresource: "versions" },
  { name: "DeleteObjects", methods: ["POST"], level: "bucket", subresource: "delete" },
  { name: "PostObject (browser form upload)", methods: ["POST"], level: "bucket" },
  { name: "UploadPartCopy", methods: ["PUT"], level: "object", subresource: "uploadId" },
  { name: "GetObjectAttributes", methods: ["GET"], level: "object", subresource: "attributes" },
  { name: "RestoreObject", methods: ["POST"], level: "object", subresource: "restore" },
  { name: "SelectObjectContent", methods: ["POST"], level: "object", subresource: "select" },
  { name: "GetObject by version or part", methods: ["GET", "HEAD"], level: "object", subresource: "versionId, partNumber" },
  ...["tagging", "acl", "legal-hold", "retention", "torrent"].map((sub) => ({ name: `object ?${sub}`, methods: ["GET", "PUT", "DELETE"], level: "object" as const, subresource: sub })),
  ...["location", "versioning", "policy", "lifecycle", "cors", "encryption", "tagging", "acl", "website", "logging", "notification", "replication", "object-lock", "ownershipControls", "publicAccessBlock", "accelerate", "requestPayment"]
    .map((sub) => ({ name: `bucket ?${sub}`, methods: ["GET", "PUT", "DELETE"], level: "bucket" as const, subresource: sub })),
];

/**
 * Headers that change what an upload, copy or read does in ways the sandbox does not model. A
 * header named here with an allowed value (`private`, `STANDARD`) is accepted as the no-op it is.
 */
export const REFUSED_HEADERS: readonly { prefix: string; allowed?: readonly string[] }[] = [
  { prefix: "x-amz-server-side-encryption" },
  { prefix: "x-amz-tagging" },
  { prefix: "x-amz-object-lock-" },
  { prefix: "x-amz-website-redirect-location" },
  { prefix: "x-amz-grant-" },
  { prefix: "x-amz-acl", allowed: ["private", "bucket-owner-full-control"] },
  { prefix: "x-amz-storage-class", allowed: ["STANDARD"] },
  { prefix: "x-amz-write-offset-bytes" },
  { prefix: "x-amz-copy-source-range" },
  { prefix: "x-amz-copy-source-server-side-encryption" },
  { prefix: "x-amz-request-payer" },
];

/** Query parameters every operation may carry: SigV4 presigning, the SDKs' `x-id`, and x-amz-* headers hoisted into a presigned URL. */
function general(name: string): boolean {
  return name === "x-id" || /^x-amz-/i.test(name);
}

export interface Classified {
  op: ImplementedOperation;
  query: ReadonlyMap<string, string>;
}

/** The implemented operation a request is, or the NotImplemented S3 answers for it. */
export function classify(method: string, level: S3Level, query: ReadonlyArray<readonly [string, string]>, headers: IncomingHttpHeaders): Classified {
  const map = new Map(query);
  const names = [...map.keys()].filter((k) => !general(k));
  const spec = S3_OPERATIONS.find((o) => o.method === method && o.level === level && (!o.header || headers[o.header] !== undefined)
    && (!o.absent || headers[o.absent] === undefined) && (!o.requires || map.get(o.requires[0]) === o.requires[1]) && (o.present ?? []).every((p) => map.has(p)));
  const unknown = spec ? names.filter((n) => !spec.params.includes(n)) : names;
  if (!spec || unknown.length > 0) {
    const here = S3_REFUSED.filter((r) => r.methods.includes(method) && r.level === level);
    const refused = here.find((r) => r.subresource?.split(", ").some((s) => map.has(s))) ?? (spec ? undefined : here.find((r) => r.subresource === undefined));
    const what = refused ? (refused.methods.length > 1 ? `${method} ${refused.name}` : refused.name) : unknown.length ? `${method} with ?${unknown.join("&?")}` : `${method} on a ${level}`;
    throw notImplemented(`${what} is not implemented by the sandbox`);
  }
  for (const [name, value] of Object.entries(headers)) {
    const rule = REFUSED_HEADERS.find((r) => name.startsWith(r.prefix));
    if (!rule || (rule.allowed && rule.allowed.includes(String(value)))) continue;
    throw notImplemented(`${spec.name} with ${name} is not implemented by the sandbox`, name);
  }
  return { op: spec.name, query: map };
}

function notImplemented(message: string, header?: string): S3Error {
  return new S3Error(501, "NotImplemented", message, header ? { Header: header } : {});
}
