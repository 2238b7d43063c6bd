import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand,
  HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client,
  S3ServiceException, UploadPartCommand, paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { expect } from "vitest";
import type { ClientFlow } from "../flow.js";

const run = promisify(execFile);

/** The S3 error an SDK call failed with: `NoSuchKey 404`. */
async function failure(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "no error";
  } catch (error) {
    const e = error as S3ServiceException;
    return `${e.name} ${e.$metadata?.httpStatusCode}`;
  }
}

/** The AWS SDK for JavaScript v3 S3 client with its defaults (flexible checksums, aws-chunked streams), plus presigned URLs used with curl. */
export default {
  name: "AWS SDK @aws-sdk/client-s3 and s3-request-presigner",
  async run({ sb, dir }) {
    const options = { endpoint: sb.s3.url, region: sb.s3.region, forcePathStyle: true, credentials: { accessKeyId: sb.s3.accessKeyId, secretAccessKey: sb.s3.secretAccessKey } };
    const s3 = new S3Client(options);
    const Bucket = sb.s3.bucket;

    const put = await s3.send(new PutObjectCommand({ Bucket, Key: "flow/a.txt", Body: "hello", ContentType: "text/plain", CacheControl: "no-cache", Metadata: { owner: "alice", "user-id": "42" } }));
    expect(put.ChecksumCRC32).toBe("NhCmhg==");
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: "flow/a.txt" }));
    expect([head.ContentType, head.CacheControl, head.Metadata, head.ContentLength]).toEqual(["text/plain", "no-cache", { owner: "alice", "user-id": "42" }, 5]);

    // A stream of unknown length: the SDK sends it aws-chunked with a CRC32 trailer.
    const big = Buffer.alloc(200_000, 9);
    await s3.send(new PutObjectCommand({ Bucket, Key: "flow/stream.bin", Body: Readable.from([big.subarray(0, 70_000), big.subarray(70_000)]), ContentLength: big.length }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: "flow/stream.bin", ChecksumMode: "ENABLED" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(big)).toBe(true);
    expect(got.ChecksumCRC32).toBeTypeOf("string");

    const copy = await s3.send(new CopyObjectCommand({ Bucket, Key: "flow/copy.txt", CopySource: `${Bucket}/flow/a.txt` }));
    expect(copy.CopyObjectResult?.ETag).toBe(put.ETag);
    const copied = await s3.send(new GetObjectCommand({ Bucket, Key: "flow/copy.txt" }));
    expect([await copied.Body!.transformToString(), copied.Metadata]).toEqual(["hello", { owner: "alice", "user-id": "42" }]);

    for (let i = 0; i < 5; i++) await s3.send(new PutObjectCommand({ Bucket, Key: `flow/many/${i}`, Body: `n${i}` }));
    const keys: string[] = [];
    let pages = 0;
    for await (const page of paginateListObjectsV2({ client: s3, pageSize: 2 }, { Bucket, Prefix: "flow/many/" })) {
      pages++;
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    }
    expect([pages, keys]).toEqual([3, ["flow/many/0", "flow/many/1", "flow/many/2", "flow/many/3", "flow/many/4"]]);
    const grouped = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: "flow/", Delimiter: "/" }));
    expect(grouped.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["flow/many/"]);

    // Presigned URLs, used with curl as a machine would.
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: "flow/a.txt" }), { expiresIn: 300 });
    expect((await run("curl", ["-sS", "--fail", getUrl])).stdout).toBe("hello");
    const upload = join(dir, "upload.txt");
    writeFileSync(upload, "uploaded with curl");
    // The SDK presigns a CRC32 of the empty body into every PutObject URL (aws-sdk-js-v3, since
    // 3.729.0); real S3 ignores checksums in a presigned query, and so does the sandbox.
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: "flow/curl.txt" }), { expiresIn: 300 });
    await run("curl", ["-sS", "--fail", "-X", "PUT", "-T", upload, putUrl]);
    expect(await (await s3.send(new GetObjectCommand({ Bucket, Key: "flow/curl.txt" }))).Body!.transformToString()).toBe("uploaded with curl");

    expect(await failure(s3.send(new GetObjectCommand({ Bucket, Key: "flow/none" })))).toBe("NoSuchKey 404");
    // Multipart: one part from the SDK, one through a presigned part URL with curl (as automna's
    // hosts send them), listed, completed with S3's composite ETag; S3's refusals by name.
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: "flow/big", ContentType: "application/x-tar" }));
    const first = Buffer.alloc(5 * 1024 * 1024, 1);
    const part1 = await s3.send(new UploadPartCommand({ Bucket, Key: "flow/big", UploadId, PartNumber: 1, Body: first }));
    const partFile = join(dir, "part2.bin");
    writeFileSync(partFile, "the last part may be small");
    const partUrl = await getSignedUrl(s3, new UploadPartCommand({ Bucket, Key: "flow/big", UploadId, PartNumber: 2 }), { expiresIn: 300 });
    const sent = await run("curl", ["-sS", "--fail", "-D", "-", "-o", "/dev/null", "-T", partFile, partUrl]);
    const part2 = /^etag:\s*(\S+)/im.exec(sent.stdout)![1]!;
    const listed = await s3.send(new ListPartsCommand({ Bucket, Key: "flow/big", UploadId }));
    expect(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual([[1, part1.ETag, first.length], [2, part2, 26]]);
    const inProgress = await s3.send(new ListMultipartUploadsCommand({ Bucket, Prefix: "flow/" }));
    expect(inProgress.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([["flow/big", UploadId]]);
    expect(await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: "flow/big", UploadId, MultipartUpload: { Parts: [{ PartNumber: 2, ETag: part2 }, { PartNumber: 1, ETag: part1.ETag }] } })))).toBe("InvalidPartOrder 400");
    expect(await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: "flow/big", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part2 }] } })))).toBe("InvalidPart 400");
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: "flow/big", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part1.ETag }, { PartNumber: 2, ETag: part2 }] } }));
    expect(done.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
    const whole = await s3.send(new HeadObjectCommand({ Bucket, Key: "flow/big" }));
    expect([whole.ContentLength, whole.ETag, whole.ContentType]).toEqual([first.length + 26, done.ETag, "application/x-tar"]);
    expect(await failure(s3.send(new ListPartsCommand({ Bucket, Key: "flow/big", UploadId })))).toBe("NoSuchUpload 404");
    const small = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: "flow/small" }));
    const tiny = await s3.send(new UploadPartCommand({ Bucket, Key: "flow/small", UploadId: small.UploadId, PartNumber: 1, Body: "tiny" }));
    const tail = await s3.send(new UploadPartCommand({ Bucket, Key: "flow/small", UploadId: small.UploadId, PartNumber: 2, Body: "tail" }));
    expect(await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: "flow/small", UploadId: small.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: tiny.ETag }, { PartNumber: 2, ETag: tail.ETag }] } })))).toBe("EntityTooSmall 400");
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: "flow/small", UploadId: small.UploadId }));
    expect(await failure(s3.send(new UploadPartCommand({ Bucket, Key: "flow/small", UploadId: small.UploadId, PartNumber: 3, Body: "late" })))).toBe("NoSuchUpload 404");
    expect((await s3.send(new ListMultipartUploadsCommand({ Bucket, Prefix: "flow/" }))).Uploads ?? []).toEqual([]);
    expect(await failure(s3.send(new PutObjectTaggingCommand({ Bucket, Key: "flow/a.txt", Tagging: { TagSet: [{ Key: "a", Value: "b" }] } })))).toBe("NotImplemented 501");
    expect(await (await s3.send(new GetObjectCommand({ Bucket, Key: "flow/a.txt" }))).Body!.transformToString()).toBe("hello");
    const stranger = new S3Client({ ...options, credentials: { accessKeyId: "AKNOBODY", secretAccessKey: "nothing" } });
    // A HEAD error has no body to name it: only the status.
    expect(await failure(stranger.send(new HeadObjectCommand({ Bucket, Key: "flow/a.txt" })))).toMatch(/ 403$/);
    expect(await failure(stranger.send(new GetObjectCommand({ Bucket, Key: "flow/a.txt" })))).toBe("InvalidAccessKeyId 403");

    for (const key of ["flow/a.txt", "flow/stream.bin", "flow/copy.txt", "flow/curl.txt", "flow/big", ...keys]) await s3.send(new DeleteObjectCommand({ Bucket, Key: key }));
    expect((await s3.send(new ListObjectsV2Command({ Bucket, Prefix: "flow/" }))).KeyCount).toBe(0);
  },
} satisfies ClientFlow;
