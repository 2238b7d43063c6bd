import { AutomnaError } from "../lib/errors.js";
import { mapConcurrent } from "../lib/concurrency.js";
import { mib } from "../lib/output.js";
import { StorageClient } from "../lib/s3-objects.js";
import { presignUrl, type StorageSettings } from "../lib/s3-presign.js";
import type { Instance } from "../state/types.js";
import { runScript, setAgent } from "./host.js";
import { manifestDifferences, parseManifest, type Manifest } from "./manifest.js";
import type { Run } from "./run.js";
import { curlConfig } from "./scripts.js";
import { prelude } from "./shell.js";
import type { MigrateStep } from "./types.js";

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

/** What this process listed and found (asked again after a resume). */
const memos = new WeakMap<Run, { warm?: Listing; frozen?: Listing; target?: Manifest; sourceAgain?: Manifest }>();
function memo(r: Run): { warm?: Listing; frozen?: Listing; target?: Manifest; sourceAgain?: Manifest } {
  let m = memos.get(r);
  if (!m) memos.set(r, (m = {}));
  return m;
}

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
      // An object stored without a checksum (s3fs sends none) is read once and hashed.
      const sha256 = head?.sha256 ?? (await client.readSha256(o.key))?.sha256;
      if (!sha256) throw new AutomnaError(`object ${o.key} was listed but is gone from the bucket`, { code: "storage_failed", hint: "the bucket is still being written: resume once it is quiet" });
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

/**
 * Fetches objects into the target's /data: stdin lines `rm <path>` (removed first) and `get
 * <sha256> <path>` each followed by a curl config line with its presigned URL (never on a
 * command line). `warm`: /data is emptied first, and an object that changed since it was listed
 * (the agent still writes) is taken as it is now, since the final copy corrects it; otherwise
 * (frozen) each download must match its sha256 before it replaces the file. Then the manifest of
 * /data, in the form the source's listing was put in.
 */
function fetchScript(workId: string, warm: boolean): string {
  return `${prelude(workId)}
${warm ? "find . -mindepth 1 -delete\n" : ""}while IFS= read -r line; do
  case "$line" in
    "rm "*) rm -rf -- "\${line#rm }" ;;
    "get "*)
      rest=\${line#get }; sum=\${rest%% *}; p=\${rest#* }
      IFS= read -r cfg
      t="$W/object.part"
      printf '%s\\n' "$cfg" | curl -fsS --retry 3 -K - -o "$t"
      ${warm ? ": the final copy checks what changed since it was listed" : 'set -- $(sha256sum < "$t"); if [ "$1" != "$sum" ]; then echo "checksum mismatch for $p" >&2; exit 65; fi'}
      mkdir -p -- "$(dirname -- "$p")"
      mv -f -- "$t" "$p" ;;
  esac
done
list_data "$W/objects.list"
manifest "$W/objects.list"`;
}

async function fetchOnTarget(r: Run, data: ObjectData, target: Instance, objects: SourceObject[], remove: string[], warm: boolean): Promise<Manifest> {
  const now = r.deps.now();
  const stdin = [
    ...remove.map((p) => `rm ${p}\n`),
    ...objects.map((o) => `get ${o.sha256} ${o.path}\n${curlConfig(presignGet(data.storage, o.key, now))}`),
  ].join("");
  return parseManifest(await runScript(r.host, target, `fetching ${objects.length} objects from the source's bucket`, fetchScript(r.opId, warm), stdin));
}

/** The target's /data manifest (a resumed step asks again). */
async function targetManifest(r: Run, target: Instance): Promise<Manifest> {
  return parseManifest(await runScript(r.host, target, "listing the target's /data", `${prelude(r.opId)}\nlist_data "$W/objects.list"\nmanifest "$W/objects.list"`));
}

const bytesOf = (l: Listing): number => [...l.objects.values()].reduce((s, o) => s + o.size, 0);

/** Warm copy: the prefix listed (sizes and sha256s) while the source still serves; nothing to send. */
async function warmArchive(r: Run, data: ObjectData): Promise<void> {
  await r.j.step("warm-archive", "listing the source's data in object storage (warm copy, agent still serving)", { prefix: data.prefix }, async () => {
    const m = memo(r);
    m.warm = await objectManifest(r, data);
    return { objects: m.warm.objects.size, files: m.warm.manifest.files, dataBytes: bytesOf(m.warm), manifest: m.warm.manifest.digest, summary: `${m.warm.objects.size} objects, ${mib(bytesOf(m.warm))} under ${data.prefix} (already in object storage: nothing to send)` };
  });
}

/**
 * The target's agent held and the objects fetched on it. The source has no environment automna
 * can read (the bridge has no route for it; the Worker sets it), so none is carried.
 */
async function warmRestore(r: Run, data: ObjectData): Promise<void> {
  await r.j.step("warm-restore", "holding the target's agent and fetching the objects on it (presigned GETs)", { prefix: data.prefix }, async () => {
    const target = await r.target();
    if (!r.to.access(target).createsHeld) await setAgent(r.host, r.to, target, false);
    const warm = memo(r).warm ?? await objectManifest(r, data);
    const m = await fetchOnTarget(r, data, target, [...warm.objects.values()], [], true);
    memo(r).target = m;
    return { names: [], files: m.files, bytes: m.bytes, summary: `target has ${m.files} files, ${mib(m.bytes)} (warm); no variables to carry (the bridge exposes none)` };
  });
}

/** The freeze: the sandbox stopped (nothing writes to the prefix any more), then the prefix listed again. */
async function freeze(r: Run, data: ObjectData): Promise<void> {
  await r.j.step("freeze", "stopping the source sandbox and listing its objects again (frozen)", { prefix: data.prefix }, async () => {
    await setAgent(r.host, r.from, await r.source(), false);
    const m = memo(r);
    m.frozen = await objectManifest(r, data);
    const have = m.target;
    const changed = have ? changedObjects(m.frozen, have).length : m.frozen.objects.size;
    const f = m.frozen.manifest;
    return { frozenAt: r.deps.now().toISOString(), manifest: f.digest, files: f.files, dataBytes: f.bytes, changed, summary: `source sandbox stopped (downtime starts); ${changed} objects changed since the warm copy` };
  });
}

/** The prefix as frozen: from this process, or listed again and checked against the journal. */
async function frozenObjects(r: Run, data: ObjectData): Promise<Listing> {
  const recorded = String(r.j.learned("freeze").manifest);
  const now = memo(r).frozen ?? await objectManifest(r, data);
  if (now.manifest.digest !== recorded) {
    throw new AutomnaError(`${r.user}'s data in object storage changed after the source was frozen (manifest ${now.manifest.digest.slice(0, 12)}, journaled ${recorded.slice(0, 12)})`, { code: "source_changed", hint: "something woke the source sandbox (its agent wrote to the prefix); the migration rolls back" });
  }
  memo(r).frozen = now;
  return now;
}

function changedObjects(src: Listing, have: Manifest): SourceObject[] {
  return [...src.objects.values()].filter((o) => {
    const h = have.entries.get(o.path);
    return !h || h.type !== "f" || h.sha256 !== o.sha256 || h.size !== o.size;
  });
}

/** Final copy: what changed since the warm copy fetched (each sha256 checked), what the prefix no longer has removed. */
async function finalRestore(r: Run, data: ObjectData): Promise<void> {
  await r.j.step("final-restore", "fetching what changed on the target (each sha256 checked)", { prefix: data.prefix }, async (resumed) => {
    const src = await frozenObjects(r, data);
    const target = await r.target();
    const have = !resumed && memo(r).target ? memo(r).target! : await targetManifest(r, target);
    const remove = [...have.entries.keys()].filter((p) => !src.manifest.entries.has(p) || src.manifest.entries.get(p)!.type !== have.entries.get(p)!.type);
    const changed = changedObjects(src, have);
    const [after, again] = await Promise.all([fetchOnTarget(r, data, target, changed, remove, false), objectManifest(r, data)]);
    memo(r).target = after;
    memo(r).sourceAgain = again.manifest;
    return { fetched: changed.length, removed: remove.length, summary: `${changed.length} objects fetched, ${remove.length} paths removed on the target` };
  });
}

/** Every object's sha256 against every file's on the target (cheap here: the listing has them), and the prefix unchanged. */
async function verify(r: Run, data: ObjectData): Promise<void> {
  await r.j.step("verify", "verifying every object's sha256 against the target's files", { mode: "full" }, async () => {
    const recorded = String(r.j.learned("freeze").manifest);
    const m = memo(r);
    const [src, tgt] = await Promise.all([m.sourceAgain ?? objectManifest(r, data).then((l) => l.manifest), m.target ?? targetManifest(r, await r.target())]);
    if (src.digest !== recorded) throw new AutomnaError(`${r.user}'s data in object storage changed after the source was frozen`, { code: "source_changed", hint: "something woke the source sandbox; the migration rolls back" });
    if (tgt.digest !== src.digest) throw new AutomnaError(`verification failed: the target's /data differs from the source's objects (${manifestDifferences(src, tgt).join("; ")})`, { code: "verify_failed" });
    return { mode: "full", files: src.files, bytes: src.bytes, manifest: src.digest, summary: `verified ${src.files} files, ${mib(src.bytes)}: every object's sha256 matches` };
  });
}

/** The data steps of a source whose data is in object storage, in place of the host ones. */
export function objectSteps(data: ObjectData): Partial<Record<MigrateStep, (r: Run) => Promise<void>>> {
  return {
    "warm-archive": (r) => warmArchive(r, data),
    "warm-restore": (r) => warmRestore(r, data),
    freeze: (r) => freeze(r, data),
    "final-restore": (r) => finalRestore(r, data),
    verify: (r) => verify(r, data),
  };
}
