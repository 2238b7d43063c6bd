import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openBackend } from "../../src/state/backend.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import type { AuditEntry, Lease } from "../../src/state/types.js";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";
import { createToken, startTestServer } from "../helpers/state-server.js";

const homes: Sandbox[] = [];
function home(): Sandbox {
  const h = makeHome({ AUTOMNA_OPERATOR: "boss" });
  homes.push(h);
  return h;
}
afterEach(() => {
  for (const h of homes.splice(0)) h.cleanup();
});

describe("automna lock (embedded store)", () => {
  it("lists live leases and breaks one by id, recording who broke it", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath);
    const lease = await store.acquireLease("alice", { who: "ann", operation: "op_migrate", host: "ci-7" }, 600_000);
    const list = await runCli(["lock", "list", "--columns", "user,who,operation,lease,host", "--no-header"], { env: h.env });
    expect(list.stdout).toBe(`alice   ann   op_migrate   ${lease.leaseId}   ci-7\n`);
    const wrong = await runCli(["lock", "break", "alice", "--lease", "lease_other"], { env: h.env });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe("Error: no lease lease_other on alice\nHint: automna lock list shows live leases\n");
    expect((await runCli(["lock", "break", "alice"], { env: h.env })).code).toBe(2);
    const broke = await runCli(["lock", "break", "alice", "--lease", lease.leaseId, "--yes"], { env: h.env });
    expect(broke.code).toBe(0);
    expect(broke.stderr).toBe(`✓ broke lease ${lease.leaseId} on alice held by ann (op_migrate) since ${lease.acquiredAt}\n`);
    expect((await runCli(["lock", "list", "-o", "json"], { env: h.env })).json()).toEqual([]);
    const audit = await runCli(["state", "audit", "--action", "lease.break", "-o", "json"], { env: h.env });
    expect(audit.json<AuditEntry[]>().map((a) => [a.who, a.target, a.details.leaseId])).toEqual([["boss", "alice", lease.leaseId]]);
    await store.close();
  });

  it("break asks first: off a terminal it needs --yes, a \"no\" keeps the lease", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath);
    const lease = await store.acquireLease("alice", { who: "ann", operation: "op_migrate" }, 600_000);
    const refused = await runCli(["lock", "break", "alice", "--lease", lease.leaseId], { env: h.env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`Error: Break lease ${lease.leaseId} on alice, held by ann (op_migrate) since ${lease.acquiredAt}? Its holder's later writes will be refused: no answer, and prompts are off (not a terminal, --no-input or CI)\nHint: pass --yes\n`);
    const declined = await runCli(["lock", "break", "alice", "--lease", lease.leaseId], { env: { ...h.env, NO_COLOR: "1" }, tty: true, answers: { "Break lease": false } });
    expect(declined.code).toBe(130);
    expect(declined.stderr).toContain("Error: lock break cancelled; nothing was changed");
    expect((await store.listLeases()).map((l) => l.leaseId)).toEqual([lease.leaseId]);
    const answered = await runCli(["lock", "break", "alice", "--lease", lease.leaseId], { env: h.env, tty: true, answers: { "Break lease": true } });
    expect(answered.code).toBe(0);
    expect(await store.listLeases()).toEqual([]);
    await store.close();
  });

  it("runs a command under the users' leases and passes its exit code on", async () => {
    const h = home();
    const res = await runCli(["lock", "run", "alice", "bob", "--reason", "disk resize", "--", "sh", "-c", 'echo "$AUTOMNA_LEASES"; exit 3'], { env: h.env });
    expect(res.code).toBe(3);
    expect(res.stdout).toMatch(/^alice:lease_\w+,bob:lease_\w+\n$/);
    const store = await SqliteStore.open(h.statePath);
    expect(await store.listLeases()).toEqual([]);
    // The embedded store audits its own writes, as the operator; the command adds what ran and its exit code, before the leases go.
    const audited = (await store.listAudit()).map((a) => [a.who, a.action, a.target, a.details.operation ?? a.details.exitCode ?? null]);
    expect(audited).toEqual([
      ["boss", "lease.acquire", "alice", "disk resize"], ["boss", "lease.acquire", "bob", "disk resize"],
      ["boss", "lock.run", "alice", 3], ["boss", "lock.run", "bob", 3],
      ["boss", "lease.release", "alice", null], ["boss", "lease.release", "bob", null],
    ]);
    expect((await store.listAudit({ action: "lock.run" }))[0]!.details).toEqual({ command: "sh", exitCode: 3, reason: "disk resize" });
    await store.close();
    const noCommand = await runCli(["lock", "run", "alice"], { env: h.env });
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toContain("name the command to run after --");
  });

  it("exits 4 naming the holder when a user is locked, and takes none of the others", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath);
    const lease = await store.acquireLease("bob", { who: "ann", operation: "op_migrate" }, 600_000);
    const res = await runCli(["--json", "lock", "run", "alice", "bob", "--", "true"], { env: h.env });
    expect(res.code).toBe(4);
    expect(res.json()).toMatchObject({ error: { code: "locked", holder: { who: "ann", operation: "op_migrate", leaseId: lease.leaseId } } });
    expect(res.stderr).toContain("Error: bob is locked by ann (op_migrate) until");
    expect((await store.listLeases()).map((l) => l.user)).toEqual(["bob"]);
    await store.close();
  });
});

/** The pid of a process that has just exited: nothing of this machine runs under it now. */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

describe("a lease whose holder process is gone", () => {
  it("is taken over at once by any command on the same machine, and recorded", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath);
    const pid = await deadPid();
    const stale = await store.acquireLease("alice", { who: "ann", operation: "provision", host: hostname(), pid }, 600_000);
    const run = await runCli(["lock", "run", "alice", "--", "true"], { env: h.env });
    expect(run.stderr).toMatch(/^holding alice \(lease_\w+\); running true\n$/);
    expect(run.code).toBe(0);
    await store.acquireLease("bob", { who: "ann", operation: "provision", host: hostname(), pid }, 600_000);
    const destroy = await runCli(["destroy", "bob", "--yes", "--json"], { env: h.env });
    expect(destroy.code).toBe(0);
    expect(destroy.json()).toEqual([{ user: "bob", result: "absent", provider: null, removed: [], error: null }]);
    const takeovers = await store.listAudit({ action: "lease.takeover" });
    expect(takeovers.map((a) => [a.who, a.target, a.details.operation])).toEqual([["boss", "alice", "lock run: true"], ["boss", "bob", "destroy"]]);
    expect(takeovers[0]!.details).toMatchObject({ leaseId: stale.leaseId, from: { who: "ann", operation: "provision", pid } });
    expect(await store.listLeases()).toEqual([]);
    await store.close();
  });

  it("is not taken over while its process lives, nor when it ran on another machine: exit 4 naming holder, operation, expiry and the way out", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath);
    const alive = spawn("sleep", ["60"]);
    try {
      const gone = await deadPid();
      const cases = [
        { user: "alice", holder: { who: "ann", operation: "provision", host: hostname(), pid: alive.pid! }, where: `pid ${alive.pid} on ${hostname()}` },
        { user: "bob", holder: { who: "ann", operation: "op_migrate", host: "ci-runner-7", pid: gone }, where: `pid ${gone} on ci-runner-7` },
      ];
      for (const c of cases) {
        const lease = await store.acquireLease(c.user, c.holder, 600_000);
        const res = await runCli(["lock", "run", c.user, "--", "true"], { env: h.env });
        expect(res.code).toBe(4);
        expect(res.stderr).toBe(`Error: ${c.user} is locked by ann (${c.holder.operation}) until ${lease.expiresAt} (${c.where})\n`
          + `Hint: wait for it to finish (or for the lease to expire), or break it with: automna lock break ${c.user} --lease ${lease.leaseId}\n`);
        expect((await store.getLease(c.user))?.leaseId).toBe(lease.leaseId);
      }
    } finally {
      alive.kill();
    }
    await store.close();
  });

  it("through a state server: taken over by its own operator, refused to another (only the holder may release it)", async () => {
    const h = home();
    const backend = await openBackend(join(h.dir, "server.db"));
    const srv = await startTestServer(backend);
    try {
      const wil = await createToken(backend, "wil", "write");
      const writer = await srv.client("write");
      const pid = await deadPid();
      const stale = await writer.acquireLease("alice", { who: "wes", operation: "provision", host: hostname(), pid }, 600_000);
      const env = (token: string) => ({ ...h.env, AUTOMNA_STATE_URL: srv.url, AUTOMNA_STATE_TOKEN: token });
      const other = await runCli(["lock", "run", "alice", "--", "true"], { env: env(wil) });
      expect(other.code).toBe(4);
      expect(other.stderr).toContain(`Error: alice is locked by wes (provision) until ${stale.expiresAt} (pid ${pid} on ${hostname()})\n`);
      expect(other.stderr).toContain(`automna lock break alice --lease ${stale.leaseId}`);
      const own = await runCli(["lock", "run", "alice", "--", "true"], { env: env(srv.tokens.write) });
      expect(own.code).toBe(0);
      expect((await backend.listAudit({ target: "alice" })).map((r) => [r.who, r.action])).toEqual([
        ["wes", "lease.acquire"], ["wes", "lease.release"], ["wes", "lease.takeover"], ["wes", "lease.acquire"], ["wes", "lock.run"], ["wes", "lease.release"],
      ]);
    } finally {
      await srv.close();
      await backend.close();
    }
  });
});

describe("automna lock (state server)", () => {
  it("lists and breaks through the server; breaking needs an admin token; the server writes the audit row", async () => {
    const h = home();
    const backend = await openBackend(join(h.dir, "server.db"));
    const srv = await startTestServer(backend);
    try {
      const writer = await srv.client("write");
      const lease = await writer.acquireLease("alice", { who: "wes", operation: "op_1" }, 600_000);
      const env = (scope: "read" | "write" | "admin") => ({ ...h.env, AUTOMNA_STATE_URL: srv.url, AUTOMNA_STATE_TOKEN: srv.tokens[scope] });
      const list = await runCli(["lock", "list", "-o", "json"], { env: env("read") });
      expect(list.json<Lease[]>().map((l) => [l.user, l.holder.who, l.leaseId])).toEqual([["alice", "wes", lease.leaseId]]);
      const denied = await runCli(["lock", "break", "alice", "--lease", lease.leaseId, "--yes"], { env: env("write") });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain("has scope write; POST /v1/leases/:user/break needs admin");
      const broke = await runCli(["lock", "break", "alice", "--lease", lease.leaseId, "--yes"], { env: env("admin") });
      expect(broke.code).toBe(0);
      const rows = await backend.listAudit({ action: "lease.break" });
      expect(rows.map((r) => [r.who, r.target])).toEqual([["ann", "alice"]]);
      // The late holder's writes are refused now.
      await expect(writer.createInstance({
        user: "alice", role: "live", provider: "fly", region: "ams", size: "s", image: "i", resources: {}, addresses: {}, status: "running", opId: null, meta: {},
      }, { lease: { user: "alice", leaseId: lease.leaseId } })).rejects.toMatchObject({ code: "locked", exitCode: 4 });
    } finally {
      await srv.close();
      await backend.close();
    }
  });

  it("says so clearly when the server is not there", async () => {
    const h = home();
    const res = await runCli(["--state", "http://127.0.0.1:9", "lock", "list"], { env: { ...h.env, AUTOMNA_STATE_TOKEN: "tok_x.y" } });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe("Error: cannot reach the state server at http://127.0.0.1:9: ECONNREFUSED\nHint: is `automna state serve` running there? check state.url\n");
  });
});
