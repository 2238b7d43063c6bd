import { abortUpload, listUploads } from "../lib/s3-multipart.js";
import type { Instance } from "../state/types.js";
import { backupKeys } from "./backup-catalog.js";
import { runScript, type HostDeps } from "./host.js";
import { parseReport, type Report } from "./report.js";
import { backupSavedScript } from "./scripts.js";

/** A backup a killed run archived and began sending in parts: its id, its archive's report, the parts the host saw arrive. */
export interface ResumableBackup {
  id: string;
  report: Report;
  savedParts: ReadonlyMap<number, string>;
}

/**
 * The newest multipart upload of one of the user's backups still in progress (a run killed while
 * sending it, not yet aborted by `gc`) whose archive is still whole in its work directory on the
 * user's instance: `backup` sends the parts S3 does not hold yet instead of freezing the agent and
 * archiving again. Uploads whose archive is gone from the host are aborted: nothing can finish them.
 */
export async function resumableBackup(deps: HostDeps, user: string, instance: Instance): Promise<ResumableBackup | undefined> {
  const prefix = `backups/${user}/`;
  const uploads = (await listUploads(deps.objects, prefix)).sort((a, b) => b.initiated.localeCompare(a.initiated));
  for (const u of uploads) {
    const id = /^backups\/[^/]+\/(bk_[a-z0-9]+)\.tar$/.exec(u.key)?.[1];
    if (!id || u.key !== backupKeys(user, id).archive) continue;
    const report = parseReport(await runScript(deps, instance, "looking for an unfinished backup", backupSavedScript(id), undefined, 120_000));
    if (report.kv.none !== "1") return { id, report, savedParts: report.parts };
    await abortUpload(deps.objects, u.key, u.uploadId);
  }
  return undefined;
}
