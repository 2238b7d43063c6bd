import { AutomnaError } from "../lib/errors.js";
import type { HostDeps } from "./host.js";

/**
 * A backup is verified end to end: the archive's sha256, computed on the host as tar wrote it, is
 * compared with the sha256 of the object as the bucket gives it back, read in full and hashed here
 * as it streams (StorageClient.readSha256: never held in memory, a broken read retried). A flipped byte anywhere
 * between the host's disk and the bucket's, or a truncated or swapped object, fails the backup.
 * The price is one read of every archive from the bucket (the store's egress), at backup time.
 */

export type VerifyDeps = Pick<HostDeps, "objects" | "now">;

/**
 * Checks the stored archive against what the manifest will say (size and sha256, read back).
 * Only then is the manifest written, so a listed backup is a verified one. Returns when.
 */
export async function verifyStoredArchive(deps: VerifyDeps, key: string, archive: { sha256: string; bytes: number }): Promise<string> {
  const stored = await deps.objects.readSha256(key);
  if (!stored) throw new AutomnaError(`the uploaded archive ${key} is not in the bucket`, { code: "verify_failed" });
  if (stored.bytes !== archive.bytes) throw new AutomnaError(`the stored archive ${key} has ${stored.bytes} bytes, the host made ${archive.bytes}`, { code: "verify_failed" });
  if (stored.sha256 !== archive.sha256) throw new AutomnaError(`the stored archive ${key} reads back with sha256 ${stored.sha256.slice(0, 16)}…, the host made ${archive.sha256.slice(0, 16)}…: changed in transfer or in the bucket`, { code: "verify_failed" });
  return deps.now().toISOString();
}
