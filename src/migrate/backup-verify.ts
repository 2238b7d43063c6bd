import { createHash } from "node:crypto";
import { AutomnaError } from "../lib/errors.js";
import type { HostDeps } from "./host.js";
import { presignUrl } from "../lib/s3-presign.js";

/**
 * A backup is verified end to end: the archive's sha256, computed on the host as tar wrote it, is
 * compared with the sha256 of the object as the bucket gives it back, read in full through a
 * presigned GET and hashed here as it streams (never held in memory). A flipped byte anywhere
 * between the host's disk and the bucket's, or a truncated or swapped object, fails the backup.
 * The price is one read of every archive from the bucket (the store's egress), at backup time.
 */

export type VerifyDeps = Pick<HostDeps, "storage" | "now" | "signal" | "sleep">;

const ATTEMPTS = 3;

/** The stored object's size and sha256, read back; undefined when it is not in the bucket. */
export async function readBackSha256(deps: VerifyDeps, key: string): Promise<{ bytes: number; sha256: string } | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      const s = deps.storage;
      const url = presignUrl({ method: "GET", endpoint: s.endpoint, bucket: s.bucket, key, region: s.region, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, expiresInSeconds: 3600, now: deps.now() });
      const res = await fetch(url, { signal: deps.signal });
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        throw new AutomnaError(`reading ${key} back from object storage failed with HTTP ${res.status}`, { code: res.status >= 500 ? "storage_unavailable" : "storage_failed" });
      }
      const hash = createHash("sha256");
      let bytes = 0;
      for await (const chunk of res.body) {
        hash.update(chunk);
        bytes += chunk.length;
      }
      return { bytes, sha256: hash.digest("hex") };
    } catch (error) {
      // Ctrl-C, and the store's own answers other than 5xx, are not retried; a dropped connection or a 5xx is.
      if (deps.signal.aborted || attempt >= ATTEMPTS || (error instanceof AutomnaError && error.code !== "storage_unavailable")) throw error;
      await deps.sleep(200 * attempt);
    }
  }
}

/**
 * Checks the stored archive against what the manifest will say (size and sha256, read back).
 * Only then is the manifest written, so a listed backup is a verified one. Returns when.
 */
export async function verifyStoredArchive(deps: VerifyDeps, key: string, archive: { sha256: string; bytes: number }): Promise<string> {
  const stored = await readBackSha256(deps, key);
  if (!stored) throw new AutomnaError(`the uploaded archive ${key} is not in the bucket`, { code: "verify_failed" });
  if (stored.bytes !== archive.bytes) throw new AutomnaError(`the stored archive ${key} has ${stored.bytes} bytes, the host made ${archive.bytes}`, { code: "verify_failed" });
  if (stored.sha256 !== archive.sha256) throw new AutomnaError(`the stored archive ${key} reads back with sha256 ${stored.sha256.slice(0, 16)}…, the host made ${archive.sha256.slice(0, 16)}…: changed in transfer or in the bucket`, { code: "verify_failed" });
  return deps.now().toISOString();
}
