import { createHash } from "node:crypto";
import { AutomnaError } from "../lib/errors.js";
import { mapConcurrent } from "../lib/concurrency.js";
import { mib } from "../lib/output.js";
import { StorageClient } from "../lib/s3-objects.js";
import { presignUrl, type StorageSettings } from "../lib/s3-presign.js";
import type { Instance } from "../state/types.js";
import { manifest, runScript } from "./host.js";
import { manifestDelta, parseManifest, type Manifest } from "./manifest.js";
import type { Run } from "./run.js";
import { curlConfig } from "./scripts.js";

/**
 * The data path of a source whose data lives in object storage (a Cloudflare sandbox's R2
 * prefix, see InstanceAccess.objectData): nothing runs on the source. Its manifest comes from the
 * bucket (a listing with sizes, each object's sha256 from a HEAD with checksum mode, else read
 * once), and the target fetches the objects itself with presigned GETs, checking each sha256.
 * Freezing the source stops its container, so nothing writes to the prefix any more.
 */
export interface ObjectData {
  storage: StorageSettings;
  prefix: string;
}

interface SourceObject {
  key: string;
  /** `./relative/path` as the manifest names it. */
  path: string;
  size: number;
  sha256: string;
}

interface Listing {
  manifest: Manifest;
  objects: Map<string, SourceObject>;
}

const listings = new WeakMap<Run, { warm?: Listing; final?: Listing }>();

/** The source's object data when it has some; undefined for a source reached as a host. */
export function objectDataOf(r: Run, source: Instance): ObjectData | undefined {
  return r.from.access(source).objectData;
}

function presignGet(storage: StorageSettings, key: string, now: Date): string {
  return presignUrl({ method: "GET", endpoint: storage.endpoint, bucket: storage.bucket, key, region: storage.region, accessKeyId: storage.accessKeyId, secretAccessKey: storage.secretAccessKey, expiresInSeconds: 6 * 3600, now });
}

/** Lists the prefix into a manifest in the form the hosts' manifest script prints (directories implied by keys). */
export async function objectManifest(r: Run, data: ObjectData): Promise<Listing> {
  const client = new StorageClient(data.storage, { signal: r.deps.signal });
  try {
    const listed = (await client.listObjects(data.prefix)).filter((o) => !o.key.endsWith("/"));
    const objects = await mapConcurrent(listed, 8, async (o): Promise<SourceObject> => {
      const rel = o.key.slice(data.prefix.length);
      if (/[\n\r]/.test(rel) || rel.split("/").some((p) => p === "" || p === "." || p === "..")) {
        throw new AutomnaError(`object ${o.key} cannot become a file under /data (its name has an empty, . or .. part, or a line break)`, { code: "unmovable_object", hint: "rename it in the bucket, then resume" });
      }
      const head = await client.objectSha256(o.key);
      const sha256 = head?.sha256 ?? (await readSha256(data.storage, o.key, r.deps.now()));
      return { key: o.key, path: `./${rel}`, size: head?.size ?? o.size, sha256 };
    });
    const lines = new Map<string, string>();
    for (const o of objects) {
      lines.set(o.path, `f ${o.size} ${o.sha256} ${o.path}`);
      const parts = o.path.split("/");
      for (let i = 2; i < parts.length; i++) {
        const dir = parts.slice(0, i).join("/");
        if (!lines.has(dir)) lines.set(dir, `d - - ${dir}`);
      }
    }
    // The hosts list with `LC_ALL=C sort`: byte order.
    const sorted = [...lines.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return { manifest: parseManifest(sorted.map((p) => lines.get(p)!).join("\n")), objects: new Map(objects.map((o) => [o.path, o])) };
  } finally {
    await client.close();
  }
}

/** An object stored without a sha256 checksum (s3fs sends none): read once and hashed here. */
async function readSha256(storage: StorageSettings, key: string, now: Date): Promise<string> {
  const res = await fetch(presignGet(storage, key, now));
  if (!res.ok) throw new AutomnaError(`reading ${key} from object storage failed with HTTP ${res.status}`, { code: "storage_failed" });
  return createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex");
}

/**
 * Fetches objects into the target's /data: stdin lines `rm <path>` (removed first) and `get
 * <sha256> <path>` each followed by a curl config line with its presigned URL (never on a
 * command line). `warm`: /data is emptied first, and an object that changed since it was listed
 * (the agent still writes) is taken as it is now, since the final copy corrects it; otherwise
 * (frozen) each download must match its sha256 before it replaces the file.
 */
function fetchScript(workId: string, warm: boolean): string {
  if (!/^[a-z]+_[a-z0-9]+$/.test(workId)) throw new Error(`internal: bad work id ${workId}`);
  return `set -eu
umask 077
D="\${AUTOMNA_DATA:-/data}"
W="\${HOME:-/root}/.automna/work/${workId}"
mkdir -p "$W" "$D"
cd "$D"
${warm ? "find . -mindepth 1 -delete\n" : ""}while IFS= read -r line; do
  case "$line" in
    "rm "*) rm -rf -- "\${line#rm }" ;;
    "get "*)
      rest=\${line#get }; sum=\${rest%% *}; p=\${rest#* }
      IFS= read -r cfg
      t="$W/object.part"
      printf '%s\\n' "$cfg" | curl -fsS --retry 3 -K - -o "$t"
      set -- $(sha256sum < "$t")
      ${warm ? ": changed since it was listed: the final copy checks it" : 'if [ "$1" != "$sum" ]; then echo "checksum mismatch for $p" >&2; exit 65; fi'}
      mkdir -p -- "$(dirname -- "$p")"
      mv -f -- "$t" "$p" ;;
  esac
done`;
}

async function fetchOnTarget(r: Run, data: ObjectData, target: Instance, objects: SourceObject[], remove: string[], warm: boolean): Promise<Manifest> {
  const now = r.deps.now();
  const stdin = [
    ...remove.map((p) => `rm ${p}\n`),
    ...objects.map((o) => `get ${o.sha256} ${o.path}\n${curlConfig(presignGet(data.storage, o.key, now))}`),
  ].join("");
  await runScript(r.host, target, `fetching ${objects.length} objects from the source's bucket`, fetchScript(r.opId, warm), stdin);
  return manifest(r.host, target, r.opId);
}

const bytesOf = (l: Listing): number => [...l.objects.values()].reduce((s, o) => s + o.size, 0);

/** Warm copy: every object of the prefix while the source still serves. */
export async function copyAllFromObjects(r: Run, data: ObjectData): Promise<void> {
  const memo = listings.get(r) ?? {};
  listings.set(r, memo);
  const listed = await r.j.step("warm-archive", "listing the source's data in object storage (warm copy, agent still serving)", { prefix: data.prefix }, async () => {
    memo.warm = await objectManifest(r, data);
    return { objects: memo.warm.objects.size, bytes: bytesOf(memo.warm), manifest: memo.warm.manifest.digest, summary: `${memo.warm.objects.size} objects, ${mib(bytesOf(memo.warm))} under ${data.prefix}` };
  });
  await r.j.step("warm-upload", "the data is in object storage already: nothing to upload", {}, async () => ({ uploaded: false, summary: "nothing to upload (the source's data is in object storage)" }));
  await r.j.step("warm-restore", "fetching the objects on the target (presigned GETs, sha256 checked)", { objects: listed.objects }, async () => {
    const warm = memo.warm ?? await objectManifest(r, data);
    const m = await fetchOnTarget(r, data, await r.target(), [...warm.objects.values()], [], true);
    r.memo.targetWarm = m;
    return { files: m.files, bytes: m.bytes, manifest: m.digest, summary: `target has ${m.files} files, ${mib(m.bytes)} (warm)` };
  });
}

/** The frozen prefix, listed again and checked against what the final copy recorded. */
export async function frozenObjects(r: Run, data: ObjectData): Promise<Listing> {
  const memo = listings.get(r) ?? {};
  listings.set(r, memo);
  const recorded = String(r.j.learned("final-archive").manifest);
  const now = memo.final ?? await objectManifest(r, data);
  if (now.manifest.digest !== recorded) {
    throw new AutomnaError(`${r.user}'s data in object storage changed after the source was frozen (manifest ${now.manifest.digest.slice(0, 12)}, journaled ${recorded.slice(0, 12)})`, { code: "source_changed", hint: "something woke the source sandbox (its agent wrote to the prefix); the migration rolls back" });
  }
  memo.final = now;
  return now;
}

/** Final copy: with the sandbox stopped, only the objects that changed since the warm copy, and removals. */
export async function copyChangesFromObjects(r: Run, data: ObjectData): Promise<void> {
  const memo = listings.get(r) ?? {};
  listings.set(r, memo);
  await r.j.step("final-archive", "listing the frozen source's objects: what changed since the warm copy", { prefix: data.prefix }, async () => {
    memo.final = await objectManifest(r, data);
    const have = r.memo.targetWarm ?? await manifest(r.host, await r.target(), r.opId);
    const delta = manifestDelta(memo.final.manifest, have);
    r.memo.sourceFinal = memo.final.manifest;
    const m = memo.final.manifest;
    return { manifest: m.digest, files: m.files, dataBytes: m.bytes, changed: delta.copy.length, removed: delta.remove.length, summary: `${delta.copy.length} changed, ${delta.remove.length} removed since the warm copy` };
  });
  await r.j.step("final-upload", "the data is in object storage already: nothing to upload", {}, async () => ({ uploaded: false, summary: "nothing to upload (the source's data is in object storage)" }));
  await r.j.step("final-restore", "fetching what changed on the target", {}, async (resumed) => {
    const src = await frozenObjects(r, data);
    const target = await r.target();
    const have = !resumed && r.memo.targetWarm ? r.memo.targetWarm : await manifest(r.host, target, r.opId);
    const { remove } = manifestDelta(src.manifest, have);
    const changed = [...src.objects.values()].filter((o) => {
      const h = have.entries.get(o.path);
      return !h || h.type !== "f" || h.sha256 !== o.sha256 || h.size !== o.size;
    });
    r.memo.targetFinal = await fetchOnTarget(r, data, target, changed, remove, false);
    r.memo.sourceAgain = (await objectManifest(r, data)).manifest;
    return { fetched: changed.length, removed: remove.length };
  });
}
