/**
 * Hosts whose userland is busybox (an Alpine-like image), as Debian builds it: its `find` has no
 * -printf and its `tar` no -T, so the data path's listings take their fallback (find -exec stat,
 * then awk; list_only and canon_sum in src/migrate/shell.ts) and the freeze's delta goes to tar
 * as arguments (archive_paths); its sh, awk, sort and sha256sum are busybox's too. A migration
 * must still send exactly what changed and leave the target with the source's data, and a backup
 * and its restore must round-trip. The engine runs on local shell hosts (local-hosts.ts) against
 * the sandbox's APIs and object store.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupUser, restoreUser } from "../../src/migrate/backup.js";
import { buildEngineDeps } from "../../src/migrate/deps.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { agePastRacyWindow, localWorld, stepDone, type LocalWorld } from "./local-world.js";
import { listingDigestOf, manifestDigest } from "./world.js";

let w: LocalWorld;
beforeAll(async () => {
  w = await localWorld("busybox", "busybox");
});
afterAll(async () => {
  await w?.cleanup();
});

/**
 * Migrates a user (w.migrate), `atFreeze` changing its /data as the freeze starts, once what was
 * seeded has aged past the quick check's racy window; the step results, the target's /data and
 * the paths of the freeze's archive.
 */
async function migrate(user: string, atFreeze: () => void) {
  await agePastRacyWindow();
  const { outcome, journal, target } = await w.migrate(user, "quick", atFreeze);
  expect(outcome.error).toBeNull();
  expect(outcome.result).toBe("migrated");
  return {
    step: (name: string) => stepDone(journal, name),
    targetData: join(w.hosts.dir(target!), "data"),
    finalArchive: () => w.archivePaths(`migrations/${user}/${outcome.op}/final.tar`),
  };
}

describe("hosts with busybox's userland", () => {
  it("their find has no -printf and their tar no -T: the data path's fallbacks are what runs", async () => {
    const { row } = await w.provision("bb-0");
    const r = await w.hosts.run(row, "find . -printf x 2>&1 | head -n 1; tar -cf /dev/null -T /dev/null 2>/dev/null || echo 'tar: no -T'");
    expect(r.stdout.toString()).toBe("find: unrecognized: -printf\ntar: no -T\n");
  });

  it("a migration sends exactly what changed at the freeze and the target ends up with the source's data", async () => {
    const { data } = await w.provision("bb-1");
    mkdirSync(join(data, "memory", "deep"), { recursive: true });
    mkdirSync(join(data, "empty"));
    for (let i = 0; i < 10; i++) writeFileSync(join(data, "memory", "deep", `k${i}.bin`), randomBytes(4096));
    for (const name of ["changed.json", "removed.json", "renamed.json", "name with spaces.txt", "back\\slash.txt"]) writeFileSync(join(data, "memory", name), randomBytes(2048));
    symlinkSync("deep/k0.bin", join(data, "memory", "link"));
    const { step, targetData, finalArchive } = await migrate("bb-1", () => {
      const m = join(data, "memory");
      writeFileSync(join(m, "changed.json"), randomBytes(3000));
      writeFileSync(join(m, "added.json"), "{}");
      rmSync(join(m, "removed.json"));
      renameSync(join(m, "renamed.json"), join(m, "renamed-to.json"));
    });
    // changed.json, added.json and renamed-to.json: nothing else is sent.
    expect(step("freeze")).toMatchObject({ changed: 3 });
    expect(await finalArchive()).toEqual(["./memory/added.json", "./memory/changed.json", "./memory/renamed-to.json"]);
    expect(step("final-restore")).toMatchObject({ removed: 2 });
    expect(manifestDigest(targetData)).toBe(manifestDigest(data));
    expect(step("verify")).toMatchObject({ mode: "quick", listing: listingDigestOf(data), files: 15 });
    // The spaces, the backslash and the link came through as they were.
    expect(readdirSync(join(targetData, "memory")).sort()).toEqual(["added.json", "back\\slash.txt", "changed.json", "deep", "link", "name with spaces.txt", "renamed-to.json"]);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("nothing changed at the freeze (busybox's tar refuses an empty archive): the target gets the warm copy", async () => {
    const { data } = await w.provision("bb-2");
    writeFileSync(join(data, "profile.json"), randomBytes(1000));
    const { step, targetData, finalArchive } = await migrate("bb-2", () => {});
    expect(step("freeze")).toMatchObject({ changed: 0 });
    expect(await finalArchive()).toEqual(["."]);
    expect(manifestDigest(targetData)).toBe(manifestDigest(data));
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("more changed paths than fit on one command line: all of /data goes, and the target is still exact", async () => {
    const { data } = await w.provision("bb-3");
    // New files in a directory the warm copy had, so each is a path of its own (a new directory
    // is one): 1,200 paths of ~120 bytes, over the 128 KiB the arguments may take.
    const dir = join(data, `a-directory-with-a-long-name-${"d".repeat(30)}`);
    mkdirSync(dir);
    writeFileSync(join(data, "old.json"), randomBytes(1000));
    const { step, targetData, finalArchive } = await migrate("bb-3", () => {
      for (let i = 0; i < 1200; i++) writeFileSync(join(dir, `a-file-with-a-long-name-${"f".repeat(40)}-${i}`), String(i));
    });
    expect(step("freeze")).toMatchObject({ changed: 1200 });
    expect(await finalArchive()).toHaveLength(3 + 1200); // ".", old.json, the directory and its 1,200 files
    expect(manifestDigest(targetData)).toBe(manifestDigest(data));
    expect(readdirSync(join(targetData, basename(dir)))).toHaveLength(1200);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("a backup and its restore round-trip /data on such a host", async () => {
    const { data } = await w.provision("bb-4");
    mkdirSync(join(data, "memory"));
    writeFileSync(join(data, "memory", "a.json"), randomBytes(3000));
    writeFileSync(join(data, "memory", "name with spaces.txt"), "kept\n");
    const before = manifestDigest(data);
    const ctx = w.context();
    const deps = await buildEngineDeps(ctx, w.hosts.run, () => {});
    try {
      const made = await backupUser({ ...deps, step: () => {} }, "bb-4");
      expect(made).toMatchObject({ files: 2 });
      writeFileSync(join(data, "memory", "a.json"), "overwritten");
      writeFileSync(join(data, "stray.txt"), "not in the backup");
      const restored = await restoreUser({ ...deps, step: () => {} }, "bb-4", made.backupId);
      expect(restored).toMatchObject({ files: 2 });
      expect(manifestDigest(data)).toBe(before);
    } finally {
      await deps.close();
      await ctx.dispose();
    }
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});
