import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import {
  CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command,
  PutObjectCommand, PutObjectTaggingCommand, S3Client, S3ServiceException, paginateListObjectsV2,
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
    expect(await failure(s3.send(new CreateMultipartUploadCommand({ Bucket, Key: "flow/big" })))).toBe("NotImplemented 501");
    expect(await failure(s3.send(new PutObjectTaggingCommand({ Bucket, Key: "flow/a.txt", Tagging: { TagSet: [{ Key: "a", Value: "b" }] } })))).toBe("NotImplemented 501");
    expect(await (await s3.send(new GetObjectCommand({ Bucket, Key: "flow/a.txt" }))).Body!.transformToString()).toBe("hello");
    const stranger = new S3Client({ ...options, credentials: { accessKeyId: "AKNOBODY", secretAccessKey: "nothing" } });
    // A HEAD error has no body to name it: only the status.
    expect(await failure(stranger.send(new HeadObjectCommand({ Bucket, Key: "flow/a.txt" })))).toMatch(/ 403$/);
    expect(await failure(stranger.send(new GetObjectCommand({ Bucket, Key: "flow/a.txt" })))).toBe("InvalidAccessKeyId 403");

    for (const key of ["flow/a.txt", "flow/stream.bin", "flow/copy.txt", "flow/curl.txt", ...keys]) await s3.send(new DeleteObjectCommand({ Bucket, Key: key }));
    expect((await s3.send(new ListObjectsV2Command({ Bucket, Prefix: "flow/" }))).KeyCount).toBe(0);
  },
} satisfies ClientFlow;
