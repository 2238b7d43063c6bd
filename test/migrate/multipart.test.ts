/**
 * Archives past storage.multipartThreshold go to the object store in parts, sent by the host
 * through presigned part URLs (built binary, sandbox hosts over real ssh, the sandbox's S3 with
 * its limits lowered so a "large" archive is a few MiB). The CLI is SIGKILLed with its ssh
 * children (the operator's machine dying) while a part is in flight: `migrate resume` (and `backup`
 * run again) sends only the parts that had not arrived; a rollback and `gc` abort what is left behind.
 */
import { createHash } from "node:crypto";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../../src/lib/redact.js";
import { presignUrl, signHeaders } from "../../src/lib/s3-presign.js";
import { EMPTY_SHA256 } from "../../src/lib/sigv4.js";
import { automna, BIN } from "../helpers/bin.js";
import { budget, QUIET_MS, until } from "../helpers/budget.js";
import { expectCarriedOver, hostDir, instances, listingDigestOf, migrateWorld, migrationOf, provision, seed, type MigrateWorld } from "./world.js";

const MIB = 1024 * 1024;
let w: MigrateWorld;
let env: Record<string, string>;
beforeAll(async () => {
  // S3's limits scaled down 1,024 times over: a single PUT up to 5 MiB, parts from 1 MiB.
  w = await migrateWorld({ addressBase: "127.87", writeEveryMs: 200, s3Limits: { maxPutBytes: 5 * MIB, minPartBytes: MIB } });
  env = { ...w.env, AUTOMNA_STORAGE_MULTIPART_THRESHOLD: "2MiB", AUTOMNA_STORAGE_PART_SIZE: "1MiB" };
});
afterAll(async () => {
  await w?.cleanup();
});

/** Runs the CLI in a process group of its own, SIGKILLs the group once a part is held in flight, then lets parts through again. */
async function killedBetweenParts(args: string[], partsFirst: number): Promise<void> {
  w.sb.s3.faults.holdPartsAfter(partsFirst);
  const from = w.sb.s3.requests.length;
  const stored = () => w.sb.s3.requests.slice(from).filter((q) => q.operation === "UploadPart" && q.status === 200).length;
  const run = execa(process.execPath, [BIN, ...args], { env, extendEnv: false, reject: false, detached: true, timeout: budget(QUIET_MS.migration) });
  try {
    // Up to the warm archive's parts (most of a migration): one part held in flight and the parts
    // let through before it stored, however slowly a busy machine sends them.
    await until(() => w.sb.s3.faults.pending.heldParts > 0 && stored() >= partsFirst, QUIET_MS.migration);
  } catch (error) {
    run.kill("SIGKILL");
    throw new Error(`no part was held: ${(await run).stderr}`, { cause: error });
  }
  process.kill(-run.pid!, "SIGKILL");
  expect((await run).signal).toBe("SIGKILL");
  // The host hangs up on the script when its ssh session goes: the held part's client goes away.
  await until(() => w.sb.s3.faults.pending.heldParts === 0);
  w.sb.s3.faults.releaseParts();
}

const opOf = (user: string): Promise<string> => migrationOf({ env: env }, user);

/** The keys of the multipart uploads in progress under `prefix` (ListMultipartUploads). */
async function uploadsUnder(prefix: string): Promise<string[]> {
  const url = new URL(`${w.sb.s3.url}/${w.sb.s3.bucket}?uploads=&prefix=${encodeURIComponent(prefix)}`);
  const headers = signHeaders({ method: "GET", url, region: w.sb.s3.region, accessKeyId: new Secret(w.sb.s3.accessKeyId), secretAccessKey: new Secret(w.sb.s3.secretAccessKey), payloadHash: EMPTY_SHA256 });
  const res = await fetch(url, { headers });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return [...text.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!);
}

/** The part numbers S3 holds for the one multipart upload in progress at `key` (ListMultipartUploads, then ListParts). */
async function partsStored(key: string): Promise<number[]> {
  const signed = async (url: URL): Promise<string> => {
    const headers = signHeaders({ method: "GET", url, region: w.sb.s3.region, accessKeyId: new Secret(w.sb.s3.accessKeyId), secretAccessKey: new Secret(w.sb.s3.secretAccessKey), payloadHash: EMPTY_SHA256 });
    const res = await fetch(url, { headers });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return text;
  };
  const uploads = await signed(new URL(`${w.sb.s3.url}/${w.sb.s3.bucket}?uploads=&prefix=${encodeURIComponent(key)}`));
  const ids = [...uploads.matchAll(/<UploadId>([^<]+)<\/UploadId>/g)].map((m) => m[1]!);
  expect(ids).toHaveLength(1);
  const parts = await signed(new URL(`${w.sb.s3.url}/${w.sb.s3.bucket}/${key.split("/").map(encodeURIComponent).join("/")}?uploadId=${encodeURIComponent(ids[0]!)}`));
  return [...parts.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
}

async function objectSha256(key: string): Promise<string> {
  const url = presignUrl({
    method: "GET", endpoint: w.sb.s3.url, bucket: w.sb.s3.bucket, key, region: w.sb.s3.region,
    accessKeyId: new Secret(w.sb.s3.accessKeyId), secretAccessKey: new Secret(w.sb.s3.secretAccessKey), expiresInSeconds: 600,
  });
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex");
}

type Journal = { status: string; journal: { step: string; phase: string; data: Record<string, unknown> }[] };
const journalOf = async (op: string): Promise<Journal> => JSON.parse((await automna(["migrate", "status", op, "--json"], env)).stdout) as Journal;

describe("multipart archives (built binary)", () => {
  it("a migration killed between the parts of its warm archive resumes with the missing parts only; the stored archive has its checksum", async () => {
    await provision(w, "hetzner", ["mp-1"]);
    await seed(w, "mp-1", 8);
    const from = w.sb.s3.requests.length;
    await killedBetweenParts(["migrate", "mp-1", "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], 3);
    const op = await opOf("mp-1");
    const key = `migrations/mp-1/${op}/warm.tar`;
    // What S3 holds once the killed run is gone: parts whose bodies arrived whole may be stored
    // even though their sender died before reading the answer, as on a real store.
    const storedBefore = await partsStored(key);
    expect(storedBefore.length).toBeGreaterThanOrEqual(3);
    const resumeFrom = w.sb.s3.requests.length;
    const resumed = await automna(["migrate", "resume", op, "--json", "--yes"], env, { quietMs: QUIET_MS.migration });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).results[0].result).toBe("migrated");

    const { journal, status } = await journalOf(op);
    expect(status).toBe("succeeded");
    const warm = journal.find((e) => e.step === "warm-archive" && e.phase === "done")!.data as { sha256: string; bytes: number; parts: number };
    expect(warm.parts).toBe(Math.ceil(warm.bytes / MIB));
    const log = w.sb.s3.requests.slice(from).filter((q) => q.key === key);
    const resent = w.sb.s3.requests.slice(resumeFrom).filter((q) => q.key === key && q.operation === "UploadPart" && q.status === 200).map((q) => q.partNumber!);
    // The resume sent exactly the parts S3 did not hold yet, each once: none of the stored ones again.
    const all = Array.from({ length: warm.parts }, (_, i) => i + 1);
    expect([...resent].sort((a, b) => a - b)).toEqual(all.filter((n) => !storedBefore.includes(n)));
    expect(log.filter((q) => q.operation === "CreateMultipartUpload")).toHaveLength(1);
    expect(log.filter((q) => q.operation === "CompleteMultipartUpload" && q.status === 200)).toHaveLength(1);
    // Never a single PUT of the warm archive: it went in parts only.
    expect(log.filter((q) => q.method === "PUT" && !q.operation)).toHaveLength(0);
    // The object the parts make is the archive the source hashed as it wrote it.
    expect(await objectSha256(key)).toBe(warm.sha256);
    expect(await uploadsUnder(`migrations/mp-1/`)).toEqual([]);

    const rows = await instances(w, "mp-1");
    const live = rows.find((x) => x.role === "live")!;
    const retired = rows.find((x) => x.role === "retired")!;
    const verified = journal.find((e) => e.step === "verify" && e.phase === "done")!.data;
    expect(verified.listing).toBe(listingDigestOf(`${hostDir(w, retired)}/data`));
    expect(expectCarriedOver(`${hostDir(w, retired)}/data`, `${hostDir(w, live)}/data`)).toEqual([]);
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));

  it("a rollback aborts the upload a killed migration left, with its parts", async () => {
    await provision(w, "hetzner", ["mp-2"]);
    await seed(w, "mp-2", 6);
    await killedBetweenParts(["migrate", "mp-2", "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], 2);
    const op = await opOf("mp-2");
    expect(await uploadsUnder(`migrations/mp-2/${op}/`)).toEqual([`migrations/mp-2/${op}/warm.tar`]);
    const undo = await automna(["migrate", "rollback", op, "--yes"], env, { quietMs: QUIET_MS.migration });
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(await uploadsUnder("migrations/mp-2/")).toEqual([]);
    expect(w.sb.s3.requests.some((q) => q.operation === "AbortMultipartUpload" && q.key === `migrations/mp-2/${op}/warm.tar` && q.status === 204)).toBe(true);
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));

  it("a backup killed between its parts goes on when run again: only the parts S3 lacks are sent, none twice; the stored archive has its checksum", async () => {
    await provision(w, "hetzner", ["mp-5"]);
    await seed(w, "mp-5", 6);
    const from = w.sb.s3.requests.length;
    await killedBetweenParts(["backup", "mp-5", "--json"], 2);
    const [key] = await uploadsUnder("backups/mp-5/");
    const storedBefore = await partsStored(key!);
    expect(storedBefore.length).toBeGreaterThanOrEqual(2);
    const resumeFrom = w.sb.s3.requests.length;
    const again = await automna(["backup", "mp-5", "--json"], env, { quietMs: QUIET_MS.migration });
    expect(again.exitCode, again.stderr).toBe(0);
    const made = JSON.parse(again.stdout) as { key: string; sha256: string; bytes: number };
    // The killed run's backup, not a new one: its archive, under its id.
    expect(made.key).toBe(key);
    const all = Array.from({ length: Math.ceil(made.bytes / MIB) }, (_, i) => i + 1);
    const stored = (since: number): number[] => w.sb.s3.requests.slice(since).filter((q) => q.key === key && q.operation === "UploadPart" && q.status === 200).map((q) => q.partNumber!).sort((a, b) => a - b);
    expect(stored(resumeFrom)).toEqual(all.filter((n) => !storedBefore.includes(n)));
    expect(stored(from)).toEqual(all);
    const log = w.sb.s3.requests.slice(from).filter((q) => q.key === key);
    expect(log.filter((q) => q.operation === "CreateMultipartUpload")).toHaveLength(1);
    expect(log.filter((q) => q.operation === "CompleteMultipartUpload" && q.status === 200)).toHaveLength(1);
    expect(await objectSha256(key!)).toBe(made.sha256);
    expect(await uploadsUnder("backups/mp-5/")).toEqual([]);
    const listed = await automna(["backup", "list", "mp-5", "--json"], env);
    expect(listed.stdout).toContain(made.key.split("/").at(-1)!.replace(".tar", ""));
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));

  it("a backup past the threshold goes in parts; one killed between parts is aborted by gc, an unfinished migration's upload is kept", async () => {
    await provision(w, "hetzner", ["mp-3", "mp-4"]);
    await seed(w, "mp-3", 5);
    const backup = await automna(["backup", "mp-3", "--json"], env, { quietMs: QUIET_MS.migration });
    expect(backup.exitCode, backup.stderr).toBe(0);
    const made = JSON.parse(backup.stdout) as { key: string; sha256: string; bytes: number };
    expect(made.bytes).toBeGreaterThan(2 * MIB);
    expect(w.sb.s3.requests.filter((q) => q.key === made.key && q.operation === "CompleteMultipartUpload" && q.status === 200)).toHaveLength(1);
    expect(await objectSha256(made.key)).toBe(made.sha256);

    await killedBetweenParts(["backup", "mp-3", "--json"], 2);
    // An unfinished migration keeps its upload: `migrate resume` will send the rest.
    await seed(w, "mp-4", 4);
    await killedBetweenParts(["migrate", "mp-4", "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], 2);
    expect((await uploadsUnder("backups/mp-3/")).length).toBe(1);
    const gc = await automna(["gc", "--yes"], env);
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(gc.stderr).toMatch(/aborted 1 abandoned upload: backups\/mp-3\/bk_[a-z0-9]+\.tar/);
    expect(await uploadsUnder("backups/")).toEqual([]);
    expect(await uploadsUnder("migrations/mp-4/")).toHaveLength(1);
    const resumed = await automna(["migrate", "resume", await opOf("mp-4"), "--json", "--yes"], env, { quietMs: QUIET_MS.migration });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(await uploadsUnder("migrations/mp-4/")).toEqual([]);
  }, budget(QUIET_MS.test + 5 * QUIET_MS.migration));
});
