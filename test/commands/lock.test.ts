import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openBackend } from "../../src/state/backend.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import type { AuditEntry, Lease } from "../../src/state/types.js";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";
import { startTestServer } from "../helpers/state-server.js";

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
    const acquired = (await store.listAudit()).map((a) => [a.who, a.action, a.target, a.details.exitCode]);
    expect(acquired).toEqual([["boss", "lock.run", "alice", 3], ["boss", "lock.run", "bob", 3]]);
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
