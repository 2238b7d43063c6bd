/**
 * The freeze's quick check (src/migrate/shell.ts QUICK_CHECK_AWK): only what changed since the
 * warm copy, by size, mtime, ctime and inode as rsync's quick check decides, is archived while the
 * agent is down; the target is verified from the frozen listing plus the delta's checksums, and
 * `--verify full` hashes every file on both sides. Engine runs on local shell hosts (real sh, tar,
 * curl, sha256sum) against the sandbox's APIs and object store.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Instance } from "../../src/state/types.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import type { LocalHosts } from "./local-hosts.js";
import { agePastRacyWindow, localWorld, stepDone, type LocalWorld } from "./local-world.js";
import { listingDigestOf, manifestDigest } from "./world.js";

let w: LocalWorld;
let hosts: LocalHosts;

beforeAll(async () => {
  w = await localWorld("quick");
  ({ hosts } = w);
});
afterAll(async () => {
  await w?.cleanup();
});

describe("the quick check at the freeze", () => {
  it("sends exactly what changed: changed, added, removed, renamed, same-size rewrite, content changed with mtime restored", async () => {
    const { data } = await w.provision("qc-1");
    mkdirSync(join(data, "memory"), { recursive: true });
    mkdirSync(join(data, "keep"), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(data, "keep", `k${i}.bin`), randomBytes(8 * 1024));
    for (const name of ["changed.json", "removed.json", "renamed.json", "same-size.bin", "mtime-restored.bin"]) writeFileSync(join(data, "memory", name), randomBytes(4096));
    await agePastRacyWindow();

    const { outcome, journal, target } = await w.migrate("qc-1", "quick", () => {
      const m = join(data, "memory");
      writeFileSync(join(m, "changed.json"), randomBytes(5000));
      writeFileSync(join(m, "added.json"), "{}");
      rmSync(join(m, "removed.json"));
      renameSync(join(m, "renamed.json"), join(m, "renamed-to.json"));
      // Truncated and rewritten to the same size: only the times tell.
      const before = statSync(join(m, "same-size.bin"));
      truncateSync(join(m, "same-size.bin"), 0);
      writeFileSync(join(m, "same-size.bin"), randomBytes(before.size));
      // Content changed, mtime set back: the ctime (which no process can set) still tells.
      const old = statSync(join(m, "mtime-restored.bin"));
      writeFileSync(join(m, "mtime-restored.bin"), randomBytes(old.size));
      utimesSync(join(m, "mtime-restored.bin"), old.atime, old.mtime);
    });
    expect(outcome.error).toBeNull();
    expect(outcome.result).toBe("migrated");
    const frozen = stepDone(journal, "freeze")!;
    expect(frozen.changed).toBe(5);
    expect(await w.archivePaths(`migrations/qc-1/${outcome.op}/final.tar`)).toEqual([
      "./memory/added.json", "./memory/changed.json", "./memory/mtime-restored.bin", "./memory/renamed-to.json", "./memory/same-size.bin",
    ]);
    // renamed.json and removed.json gone from the target.
    expect(stepDone(journal, "final-restore")).toMatchObject({ removed: 2 });
    const targetData = join(hosts.dir(target!), "data");
    expect(manifestDigest(targetData)).toBe(manifestDigest(data));
    expect(stepDone(journal, "verify")).toMatchObject({ mode: "quick", listing: listingDigestOf(data), files: 25 });
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("a target file changed behind the migration's back with size and mtime kept is caught only by --verify full", async () => {
    const corrupt = (data: string) => (): void => {
      // Not on the source: the warm copy on the target is damaged after its restore (a bad disk, a
      // stray process). Same size, mtime put back: nothing in the source's listing changed.
      const file = join(data, "memory", "profile.json");
      const old = statSync(file);
      writeFileSync(file, Buffer.alloc(old.size, 0x41));
      utimesSync(file, old.atime, old.mtime);
    };
    const targets = (): string[] => readdirSync(join(hosts.root, "hosts")).filter((d) => d.startsWith("digitalocean-"));
    const results: Record<string, { result: string; error: string | null; same: boolean }> = {};
    for (const mode of ["quick", "full"] as const) {
      const user = `qc-${mode}`;
      const { data } = await w.provision(user);
      mkdirSync(join(data, "memory"), { recursive: true });
      writeFileSync(join(data, "memory", "profile.json"), JSON.stringify({ user, notes: "x".repeat(500) }));
      await agePastRacyWindow();
      const before = new Set(targets());
      const { outcome, target } = await w.migrate(user, mode, () => {
        // The target this migration made (its warm copy restored by now).
        corrupt(join(hosts.root, "hosts", targets().find((d) => !before.has(d))!, "data"))();
      });
      const same = target ? readFileSync(join(hosts.dir(target), "data", "memory", "profile.json")).equals(readFileSync(join(data, "memory", "profile.json"))) : false;
      results[mode] = { result: outcome.result, error: outcome.error?.message ?? null, same };
    }
    // quick: the damage goes unseen (the README says so); full: verification fails and it rolls back.
    expect(results.quick).toEqual({ result: "migrated", error: null, same: false });
    expect(results.full!.result).toBe("rolled_back");
    expect(results.full!.error).toBe("verification failed: the target's /data differs from the source's (./memory/profile.json differs (sha256))");
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));
});

describe("a target that is not what the delta predicts: checked path by path", () => {
  const targets = (): string[] => readdirSync(join(hosts.root, "hosts")).filter((d) => d.startsWith("digitalocean-"));
  /** The data directory of the target the migration about to freeze made (its warm copy restored by now). */
  const newTarget = (before: Set<string>): string => join(hosts.root, "hosts", targets().find((d) => !before.has(d))!, "data");
  /** Whether the path-by-path fallback ran: the source was asked for its whole frozen listing. */
  const fetchedListing = (row: Instance): boolean => hosts.commands.some((c) => c.key === hosts.key(row) && c.command.includes("cat \"$W/final.canon\""));

  it("a path the warm copy left that the source never had is removed; /data empty at the warm copy still sends all written after it", async () => {
    const { row, data } = await w.provision("qc-left");
    const before = new Set(targets());
    const { outcome, journal, target } = await w.migrate("qc-left", "quick", () => {
      mkdirSync(join(data, "memory"), { recursive: true });
      writeFileSync(join(data, "memory", "written-late.json"), randomBytes(3000));
      // As a temporary file the warm archive caught and the agent deleted before the freeze.
      writeFileSync(join(newTarget(before), "left-over.tmp"), "x");
    });
    expect(outcome.error).toBeNull();
    expect(outcome.result).toBe("migrated");
    expect(stepDone(journal, "final-restore")).toMatchObject({ removed: 1 });
    expect(fetchedListing(row)).toBe(true);
    expect(manifestDigest(join(hosts.dir(target!), "data"))).toBe(manifestDigest(data));
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("a target file whose size the delta does not set right: the differing path is named and the migration rolls back", async () => {
    const { row, data } = await w.provision("qc-short");
    mkdirSync(join(data, "memory"), { recursive: true });
    writeFileSync(join(data, "memory", "profile.json"), "x".repeat(600));
    await agePastRacyWindow();
    const before = new Set(targets());
    const { outcome } = await w.migrate("qc-short", "quick", () => truncateSync(join(newTarget(before), "memory", "profile.json"), 5));
    expect(outcome.result).toBe("rolled_back");
    expect(outcome.error?.message).toBe("verification failed: the target's /data differs from the source's (./memory/profile.json differs (f 5, expected f 600))");
    expect(fetchedListing(row)).toBe(true);
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});

describe("5,000 small files", () => {
  it("migrate with a delta of the few that changed, every file verified on arrival", async () => {
    const { row, data } = await w.provision("many-1");
    // 5,000 files of 2 KiB in 50 directories (an agent's chat memories and caches).
    for (let d = 0; d < 50; d++) {
      mkdirSync(join(data, "chats", String(d)), { recursive: true });
      for (let i = 0; i < 100; i++) writeFileSync(join(data, "chats", String(d), `m${i}.json`), randomBytes(2048));
    }
    await agePastRacyWindow();
    hosts.commands.length = 0;
    const { outcome, journal, target } = await w.migrate("many-1", "quick", () => {
      writeFileSync(join(data, "chats", "7", "m3.json"), randomBytes(2048));
      writeFileSync(join(data, "chats", "7", "new.json"), randomBytes(100));
      rmSync(join(data, "chats", "9", "m9.json"));
    });
    expect(outcome.error).toBeNull();
    expect(outcome.result).toBe("migrated");
    expect(stepDone(journal, "warm-archive")).toMatchObject({ files: 5000 });
    expect(stepDone(journal, "freeze")).toMatchObject({ changed: 2, files: 5000 });
    expect(stepDone(journal, "final-restore")).toMatchObject({ removed: 1 });
    expect(manifestDigest(join(hosts.dir(target!), "data"))).toBe(manifestDigest(data));
    // The fixed cost: at most 8 remote commands for the user, whatever its data.
    const mine = hosts.commands.filter((c) => c.key === hosts.key(row) || c.key === hosts.key(target!));
    expect(mine.length).toBeLessThanOrEqual(8);
  }, budget(QUIET_MS.test + 3 * QUIET_MS.migration));
});
