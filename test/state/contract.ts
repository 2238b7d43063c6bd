import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConflictError, LockedError, NotFoundError } from "../../src/lib/errors.js";
import type { ServerBackend } from "../../src/state/tokens.js";
import type { NewInstance, StateStore } from "../../src/state/types.js";
import { ManualClock } from "../helpers/cli.js";

export interface StoreFixture {
  store: StateStore;
  cleanup(): Promise<void>;
}

/** Builds a fresh, empty store that reads time from the given clock. */
export type StoreFactory = (clock: ManualClock) => Promise<StoreFixture>;

export function instance(user: string, over: Partial<NewInstance> = {}): NewInstance {
  return {
    user, role: "live", provider: "hetzner", region: "fsn1", size: "cx22", image: "agent:1",
    resources: { server: `${user}-1` }, addresses: { ipv4: "127.77.0.2" }, status: "running", opId: null, meta: {}, ...over,
  };
}

const holder = (who: string, operation = "op_test") => ({ who, operation });

/**
 * The behaviour every StateStore must have. Run against the embedded SQLite store, and against
 * any other implementation (the HTTP client of `automna state serve`).
 */
export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`StateStore contract: ${name}`, () => {
    let clock: ManualClock;
    let fx: StoreFixture;
    let store: StateStore;

    beforeEach(async () => {
      clock = new ManualClock();
      fx = await factory(clock);
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    describe("instances", () => {
      it("creates, reads, filters and lists in user order", async () => {
        const b = await store.createInstance(instance("bob", { provider: "fly", region: "ams" }));
        await store.createInstance(instance("alice"));
        expect(b.version).toBe(1);
        expect(b.id).toMatch(/^ins_/);
        expect(b.createdAt).toBe("2026-11-29T12:00:00.000Z");
        expect((await store.getInstance("bob"))?.resources).toEqual({ server: "bob-1" });
        expect((await store.getInstanceById(b.id))?.user).toBe("bob");
        expect((await store.listInstances()).map((i) => i.user)).toEqual(["alice", "bob"]);
        expect((await store.listInstances({ provider: "fly" })).map((i) => i.user)).toEqual(["bob"]);
        expect((await store.listInstances({ region: "fsn1" })).map((i) => i.user)).toEqual(["alice"]);
        expect((await store.listInstances({ users: ["bob", "zed"] })).map((i) => i.user)).toEqual(["bob"]);
        expect(await store.getInstance("nobody")).toBeUndefined();
      });

      it("allows one live and one target instance per user, and many retired ones", async () => {
        await store.createInstance(instance("alice"));
        await expect(store.createInstance(instance("alice"))).rejects.toBeInstanceOf(ConflictError);
        await store.createInstance(instance("alice", { role: "target", provider: "fly" }));
        await expect(store.createInstance(instance("alice", { role: "target" }))).rejects.toBeInstanceOf(ConflictError);
        await store.createInstance(instance("alice", { role: "retired" }));
        await store.createInstance(instance("alice", { role: "retired" }));
        expect(await store.listInstances({ user: "alice" })).toHaveLength(4);
        expect((await store.getInstance("alice", "target"))?.provider).toBe("fly");
      });

      it("versions every update and rejects a stale one", async () => {
        const a = await store.createInstance(instance("alice"));
        clock.advance(1000);
        const a2 = await store.updateInstance(a.id, { status: "stopped", meta: { why: "test" } }, { expectedVersion: 1 });
        expect(a2.version).toBe(2);
        expect(a2.status).toBe("stopped");
        expect(a2.updatedAt).toBe("2026-11-29T12:00:01.000Z");
        expect(a2.createdAt).toBe(a.createdAt);
        await expect(store.updateInstance(a.id, { status: "running" }, { expectedVersion: 1 })).rejects.toBeInstanceOf(ConflictError);
        expect((await store.getInstance("alice"))?.status).toBe("stopped");
        await expect(store.updateInstance("ins_missing", { status: "running" })).rejects.toBeInstanceOf(NotFoundError);
      });

      it("refuses to promote a second instance to live", async () => {
        await store.createInstance(instance("alice"));
        const t = await store.createInstance(instance("alice", { role: "target" }));
        await expect(store.updateInstance(t.id, { role: "live" })).rejects.toBeInstanceOf(ConflictError);
      });

      it("deletes, idempotently, and checks the version", async () => {
        const a = await store.createInstance(instance("alice"));
        await expect(store.deleteInstance(a.id, { expectedVersion: 7 })).rejects.toBeInstanceOf(ConflictError);
        await store.deleteInstance(a.id, { expectedVersion: 1 });
        await store.deleteInstance(a.id);
        expect(await store.getInstance("alice")).toBeUndefined();
      });
    });

    describe("usage intervals", () => {
      it("opens, closes and lists intervals overlapping a range", async () => {
        const a = await store.createInstance(instance("alice"));
        const u = await store.openUsage({
          user: "alice", instanceId: a.id, provider: "hetzner", size: "cx22", region: "fsn1", kind: "server", quantity: 1,
          hourlyPrice: 0.006, monthlyPrice: 3.79, currency: "EUR", start: "2026-10-31T22:00:00.000Z",
        });
        expect(u.end).toBeNull();
        expect(await store.listUsage({ openOnly: true })).toHaveLength(1);
        const closed = await store.closeUsage(a.id, "2026-11-02T00:00:00.000Z");
        expect(closed.map((c) => c.end)).toEqual(["2026-11-02T00:00:00.000Z"]);
        expect(await store.closeUsage(a.id, "2026-11-03T00:00:00.000Z")).toEqual([]);
        expect(await store.listUsage({ from: "2026-11-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z" })).toHaveLength(1);
        expect(await store.listUsage({ from: "2026-11-02T00:00:00.000Z" })).toHaveLength(0);
        expect(await store.listUsage({ to: "2026-10-31T22:00:00.000Z" })).toHaveLength(0);
        const [row] = await store.listUsage({ user: "alice" });
        expect(row).toMatchObject({ hourlyPrice: 0.006, monthlyPrice: 3.79, currency: "EUR", quantity: 1, kind: "server" });
      });
    });

    describe("operations journal", () => {
      it("records operations and an ordered journal of intents and results", async () => {
        const op = await store.createOperation({ kind: "migrate", user: "alice", params: { from: "fly", to: "hetzner" } });
        expect(op).toMatchObject({ status: "running", step: null, version: 1 });
        await store.appendJournal(op.id, { step: "provision", phase: "intent", data: { marker: op.id } });
        await store.appendJournal(op.id, { step: "provision", phase: "done", data: { server: "42" } });
        const updated = await store.updateOperation(op.id, { step: "provision", data: { server: "42" } }, { expectedVersion: 1 });
        expect(updated.version).toBe(2);
        await expect(store.updateOperation(op.id, { step: "copy" }, { expectedVersion: 1 })).rejects.toBeInstanceOf(ConflictError);
        const journal = await store.listJournal(op.id);
        expect(journal.map((j) => [j.seq, j.step, j.phase])).toEqual([[1, "provision", "intent"], [2, "provision", "done"]]);
        expect(journal[1]!.data).toEqual({ server: "42" });
        await store.updateOperation(op.id, { status: "succeeded" });
        const other = await store.createOperation({ kind: "provision", user: "bob" });
        expect((await store.listOperations({ active: true })).map((o) => o.id)).toEqual([other.id]);
        expect((await store.listOperations({ user: "alice" }))[0]!.status).toBe("succeeded");
        await expect(store.appendJournal("op_missing", { step: "x", phase: "intent" })).rejects.toBeInstanceOf(NotFoundError);
      });

      it("lists operations newest first and pages through them with before", async () => {
        for (const n of [1, 2, 3, 4, 5]) await store.createOperation({ id: `op_00${n}`, kind: "migrate", user: n % 2 ? "alice" : "bob" });
        const ids = (ops: { id: string }[]): string[] => ops.map((o) => o.id);
        expect(ids(await store.listOperations())).toEqual(["op_005", "op_004", "op_003", "op_002", "op_001"]);
        expect(ids(await store.listOperations({ limit: 2 }))).toEqual(["op_005", "op_004"]);
        expect(ids(await store.listOperations({ before: "op_004", limit: 2 }))).toEqual(["op_003", "op_002"]);
        expect(ids(await store.listOperations({ before: "op_002" }))).toEqual(["op_001"]);
        expect(ids(await store.listOperations({ user: "alice", before: "op_005" }))).toEqual(["op_003", "op_001"]);
        expect(await store.listOperations({ limit: 0 })).toEqual([]);
        await expect(store.createOperation({ id: "op_003", kind: "migrate", user: "alice" })).rejects.toBeInstanceOf(ConflictError);
      });
    });

    describe("leases", () => {
      it("lets one holder in and names it to the next", async () => {
        const lease = await store.acquireLease("alice", holder("ann", "op_1"), 30_000);
        expect(lease.fence).toBe(1);
        const err = await store.acquireLease("alice", holder("bo", "op_2"), 30_000).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LockedError);
        expect((err as LockedError).holder).toMatchObject({ who: "ann", operation: "op_1", leaseId: lease.leaseId });
        expect((err as LockedError).exitCode).toBe(4);
        await store.acquireLease("bob", holder("bo"), 30_000);
        expect((await store.listLeases()).map((l) => l.user)).toEqual(["alice", "bob"]);
      });

      it("fences: only the live holder writes the user's records", async () => {
        const lease = await store.acquireLease("alice", holder("ann"), 30_000);
        const ref = { user: "alice", leaseId: lease.leaseId };
        await expect(store.createInstance(instance("alice"))).rejects.toBeInstanceOf(LockedError);
        const a = await store.createInstance(instance("alice"), { lease: ref });
        await store.updateInstance(a.id, { status: "stopped" }, { lease: ref });
        await expect(store.updateInstance(a.id, { status: "running" }, { lease: { user: "alice", leaseId: "lease_forged" } })).rejects.toBeInstanceOf(LockedError);
        // Other users are unaffected.
        await store.createInstance(instance("bob"));
      });

      it("expires, can be taken over, and rejects the stale holder's late writes", async () => {
        const old = await store.acquireLease("alice", holder("ann"), 10_000);
        const oldRef = { user: "alice", leaseId: old.leaseId };
        const a = await store.createInstance(instance("alice"), { lease: oldRef });
        clock.advance(5_000);
        const renewed = await store.renewLease(oldRef, 10_000);
        expect(renewed.expiresAt).toBe("2026-11-29T12:00:15.000Z");
        clock.advance(15_001);
        expect(await store.getLease("alice")).toBeUndefined();
        await expect(store.updateInstance(a.id, { status: "failed" }, { lease: oldRef })).rejects.toBeInstanceOf(LockedError);
        await expect(store.renewLease(oldRef, 10_000)).rejects.toBeInstanceOf(LockedError);
        const next = await store.acquireLease("alice", holder("bo"), 10_000);
        expect(next.fence).toBe(2);
        await expect(store.updateInstance(a.id, { status: "failed" }, { lease: oldRef })).rejects.toBeInstanceOf(LockedError);
        await store.updateInstance(a.id, { status: "stopped" }, { lease: { user: "alice", leaseId: next.leaseId } });
        expect((await store.getInstance("alice"))?.status).toBe("stopped");
      });

      it("releases and breaks", async () => {
        const l1 = await store.acquireLease("alice", holder("ann"), 30_000);
        await store.releaseLease({ user: "alice", leaseId: l1.leaseId });
        await store.releaseLease({ user: "alice", leaseId: l1.leaseId });
        const l2 = await store.acquireLease("alice", holder("bo"), 30_000);
        expect(l2.fence).toBe(2);
        await expect(store.breakLease("alice", "lease_nope")).rejects.toBeInstanceOf(NotFoundError);
        const broken = await store.breakLease("alice", l2.leaseId);
        expect(broken.holder.who).toBe("bo");
        expect(await store.listLeases()).toEqual([]);
        await expect(store.renewLease({ user: "alice", leaseId: l2.leaseId }, 1000)).rejects.toBeInstanceOf(LockedError);
      });
    });

    describe("labels", () => {
      it("sets, merges, removes and lists a user's labels, whatever their lease", async () => {
        expect(await store.listLabels()).toEqual([]);
        await store.acquireLease("bob", holder("ann"), 30_000);
        const bob = await store.updateLabels("bob", { set: { plan: "pro", cohort: "beta" } });
        expect(bob).toEqual({ user: "bob", labels: { plan: "pro", cohort: "beta" }, updatedAt: "2026-11-29T12:00:00.000Z" });
        clock.advance(1000);
        await store.updateLabels("alice", { set: { plan: "basic" } });
        expect((await store.updateLabels("bob", { set: { plan: "team" }, remove: ["cohort", "absent"] })).labels).toEqual({ plan: "team" });
        expect(await store.listLabels()).toEqual([
          { user: "alice", labels: { plan: "basic" }, updatedAt: "2026-11-29T12:00:01.000Z" },
          { user: "bob", labels: { plan: "team" }, updatedAt: "2026-11-29T12:00:01.000Z" },
        ]);
        expect((await store.listLabels(["bob", "zed"])).map((l) => l.user)).toEqual(["bob"]);
        expect(await store.listLabels([])).toEqual([]);
        // No labels left: no row.
        expect((await store.updateLabels("alice", { remove: ["plan"] })).labels).toEqual({});
        expect((await store.listLabels()).map((l) => l.user)).toEqual(["bob"]);
      });
    });

    describe("audit log", () => {
      it("appends in order and filters", async () => {
        await store.appendAudit({ who: "ann", action: "provision", target: "alice", requestId: "req-1", details: { provider: "fly" } });
        clock.advance(60_000);
        await store.appendAudit({ who: "bo", action: "destroy", target: "bob" });
        const all = await store.listAudit();
        expect(all.map((a) => a.action)).toEqual(["provision", "destroy"]);
        expect(all[1]!.id).toBeGreaterThan(all[0]!.id);
        expect(all[0]).toMatchObject({ who: "ann", target: "alice", requestId: "req-1", details: { provider: "fly" } });
        expect((await store.listAudit({ who: "bo" })).map((a) => a.target)).toEqual(["bob"]);
        expect(await store.listAudit({ since: "2026-11-29T12:00:30.000Z" })).toHaveLength(1);
        expect(await store.listAudit({ limit: 1 })).toHaveLength(1);
        expect((await store.listAudit({ order: "desc", limit: 1 })).map((a) => a.action)).toEqual(["destroy"]);
      });
    });
  });
}

/** Builds a fresh, empty database of a server backend (SQLite or PostgreSQL) on the given clock. */
export type BackendFactory = (clock: ManualClock) => Promise<{ backend: ServerBackend; cleanup(): Promise<void> }>;

/**
 * The rules only the SQL stores carry (the HTTP store gets them from its server): every write of an
 * audited store leaves an audit row in its own transaction, and a holder-only view (a state
 * server request without admin scope) renews and releases only its own leases.
 */
export function describeAuditedStoreContract(name: string, factory: BackendFactory): void {
  describe(`audited store: ${name}`, () => {
    let clock: ManualClock;
    let fx: Awaited<ReturnType<BackendFactory>>;

    beforeEach(async () => {
      clock = new ManualClock();
      fx = await factory(clock);
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it("records each write as its operator, and nothing for a write that was refused", async () => {
      const ann = fx.backend.audited({ who: "ann", requestId: null });
      const lease = await ann.acquireLease("alice", holder("ann"), 30_000);
      const ref = { user: "alice", leaseId: lease.leaseId };
      const a = await ann.createInstance(instance("alice"), { lease: ref });
      await expect(ann.createInstance(instance("alice"), { lease: ref })).rejects.toBeInstanceOf(ConflictError);
      await ann.updateInstance(a.id, { status: "stopped" }, { lease: ref });
      await expect(ann.updateInstance(a.id, { status: "running" }, { lease: ref, expectedVersion: 1 })).rejects.toBeInstanceOf(ConflictError);
      const op = await ann.createOperation({ kind: "migrate", user: "alice" }, { lease: ref });
      await ann.appendJournal(op.id, { step: "lock", phase: "done" }, { lease: ref });
      await ann.updateOperation(op.id, { status: "succeeded" }, { lease: ref });
      await ann.openUsage({
        user: "alice", instanceId: a.id, provider: "hetzner", size: "cx22", region: "fsn1", kind: "server", quantity: 1,
        hourlyPrice: 0.006, monthlyPrice: 3.79, currency: "EUR", start: clock.now().toISOString(),
      }, { lease: ref });
      await ann.closeUsage(a.id, clock.now().toISOString(), { lease: ref });
      await ann.deleteInstance(a.id, { lease: ref });
      await ann.renewLease(ref, 30_000);
      await ann.releaseLease(ref);
      await ann.updateLabels("alice", { set: { plan: "pro" }, remove: ["cohort"] });
      await ann.appendAudit({ who: "ann", action: "destroy", target: "alice" });
      const rows = await fx.backend.listAudit();
      expect(rows.map((r) => r.action)).toEqual([
        "lease.acquire", "instance.create", "instance.update", "operation.create", "journal.append", "operation.update",
        "usage.open", "usage.close", "instance.delete", "lease.renew", "lease.release", "labels.update", "destroy",
      ]);
      expect(rows.find((r) => r.action === "labels.update")?.details).toEqual({ set: { plan: "pro" }, remove: ["cohort"] });
      expect(new Set(rows.map((r) => [r.who, r.target].join(" ")))).toEqual(new Set(["ann alice"]));
      // The store itself, not audited, adds nothing.
      await fx.backend.createInstance(instance("bob"));
      expect(await fx.backend.listAudit()).toHaveLength(rows.length);
    });

    it("lets only the holder (or an admin view) renew or release a lease", async () => {
      const ann = fx.backend.audited({ who: "ann", requestId: null, holderOnly: true });
      const bo = fx.backend.audited({ who: "bo", requestId: null, holderOnly: true });
      const admin = fx.backend.audited({ who: "root", requestId: null });
      const lease = await ann.acquireLease("alice", holder("ann"), 30_000);
      const ref = { user: "alice", leaseId: lease.leaseId };
      // One at a time: both started at once, the second's refusal could land before its catch is attached (an unhandled rejection).
      for (const attempt of [() => bo.renewLease(ref, 7 * 24 * 3_600_000), () => bo.releaseLease(ref)]) {
        const err = await attempt().catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "forbidden", hint: `an admin can break it: automna lock break alice --lease ${lease.leaseId}` });
        expect((err as Error).message).toBe(`lease ${lease.leaseId} on alice is held by ann, not bo; only its holder or an admin may renew or release it`);
      }
      expect((await fx.backend.getLease("alice"))?.expiresAt).toBe(lease.expiresAt);
      clock.advance(1000);
      expect((await ann.renewLease(ref, 30_000)).expiresAt).toBe("2026-11-29T12:00:31.000Z");
      await admin.releaseLease(ref);
      expect(await fx.backend.getLease("alice")).toBeUndefined();
      expect((await fx.backend.listAudit({ action: "lease.release" })).map((r) => r.who)).toEqual(["root"]);
    });
  });
}
