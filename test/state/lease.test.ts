import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LockedError } from "../../src/lib/errors.js";
import { holdLeases, withLease } from "../../src/state/lease.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";

const dir = mkdtempSync(join(tmpdir(), "automna-lease-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lease helpers (one module for one user or many)", () => {
  it("withLease holds the user while fn runs, refuses a second holder with exit 4, releases after a failure", async () => {
    const store = await SqliteStore.open(join(dir, "a.db"));
    let inside: unknown;
    await expect(withLease(store, "alice", { who: "ann", operation: "op_1" }, async (lease) => {
      inside = await withLease(store, "alice", { who: "bob", operation: "op_2" }, async () => "no").catch((e: unknown) => e);
      expect(lease.user).toBe("alice");
      throw new Error("boom");
    })).rejects.toThrow("boom");
    expect(inside).toBeInstanceOf(LockedError);
    expect((inside as LockedError).exitCode).toBe(4);
    expect((inside as LockedError).message).toMatch(new RegExp(`ann \\(op_1\\) until \\S+ \\(pid ${process.pid} on \\S+\\)$`));
    expect(await store.getLease("alice")).toBeUndefined();
    await store.close();
  });

  it("a lost lease aborts the holder's signal and its later writes are fenced off", async () => {
    const store = await SqliteStore.open(join(dir, "b.db"));
    const held = await holdLeases(store, ["carol"], { who: "ann", operation: "op_3" }, { ttlMs: 60_000, heartbeatMs: 20 });
    const lease = (await store.getLease("carol"))!;
    await store.breakLease("carol", lease.leaseId);
    await new Promise<void>((resolve) => held.signal.addEventListener("abort", () => resolve(), { once: true }));
    expect([...held.lost]).toEqual(["carol"]);
    await expect(store.createOperation({ kind: "migrate", user: "carol" }, { lease: held.ref("carol") })).rejects.toBeInstanceOf(LockedError);
    await held.release();
    await store.close();
  });
});
