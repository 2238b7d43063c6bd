import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { request } from "undici";
import { openBackend } from "../../src/state/backend.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import type { TokenInfo } from "../../src/state/tokens.js";
import type { AuditEntry } from "../../src/state/types.js";
import { until } from "../helpers/budget.js";
import { makeHome, MemoryStream, runCli, type Sandbox } from "../helpers/cli.js";
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

const TOKEN_RE = /^tok_[0-9a-z]{21}\.[A-Za-z0-9_-]{43}$/;

describe("automna state token", () => {
  it("creates a token, prints it once on stdout only, and lists and revokes without it", async () => {
    const h = home();
    const db = join(h.dir, "server.db");
    const created = await runCli(["state", "token", "create", "ann", "--scope", "write", "--db", db], { env: h.env });
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(TOKEN_RE);
    expect(created.stdout).toBe(`${token}\n`);
    const id = token.split(".")[0]!;
    expect(created.stderr).toBe(`✓ created ${id} for ann (scope write); this is the only time the token is shown\n`);

    const asJson = await runCli(["--json", "state", "token", "create", "ci-bot", "--scope", "read", "--db", db], { env: h.env });
    expect(asJson.json()).toMatchObject({ operator: "ci-bot", scope: "read", createdBy: "boss", revokedAt: null });
    expect(asJson.json<{ token: string }>().token).toMatch(TOKEN_RE);

    const list = await runCli(["state", "token", "list", "--db", db, "-o", "json"], { env: h.env });
    const tokens = list.json<TokenInfo[]>();
    expect(tokens.map((t) => [t.operator, t.scope])).toEqual([["ann", "write"], ["ci-bot", "read"]]);
    expect(list.stdout).not.toContain(token.split(".")[1]);
    expect(list.stdout).not.toContain("hash");

    const revoked = await runCli(["state", "token", "revoke", id, "--db", db], { env: h.env });
    expect(revoked.code).toBe(0);
    expect(revoked.stderr).toBe(`✓ revoked ${id} of ann\n`);
    const table = await runCli(["state", "token", "list", "--db", db, "--columns", "operator,revoked", "--no-header"], { env: h.env });
    expect(table.stdout).toMatch(/^ann {6}2\d{3}-\d\d-\d\dT[\d:.]+Z\nci-bot {3}-\n$/);
    const store = await SqliteStore.open(db);
    expect((await store.listAudit()).map((a) => [a.who, a.action, a.target])).toEqual([
      ["boss", "token.create", "ann"], ["boss", "token.create", "ci-bot"], ["boss", "token.revoke", "ann"],
    ]);
    await store.close();
  });

  it("validates its input", async () => {
    const h = home();
    const db = join(h.dir, "server.db");
    const badScope = await runCli(["state", "token", "create", "ann", "--scope", "root", "--db", db], { env: h.env });
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toContain('--scope must be read, write or admin, got "root"');
    expect((await runCli(["state", "token", "create", "ann", "--db", db], { env: h.env })).code).toBe(2);
    expect((await runCli(["state", "token", "create", "bad name", "--scope", "read", "--db", db], { env: h.env })).code).toBe(2);
    const unknown = await runCli(["state", "token", "revoke", "tok_nope", "--db", db], { env: h.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no token tok_nope");
    const viaUrl = await runCli(["--state", "http://127.0.0.1:9", "state", "token", "list"], { env: h.env });
    expect(viaUrl.code).toBe(2);
    expect(viaUrl.stderr).toContain("pass --db");
  });
});

describe("automna state audit", () => {
  it("lists and filters the server's audit log through the HTTP store", async () => {
    const h = home();
    const backend = await openBackend(join(h.dir, "server.db"));
    const srv = await startTestServer(backend);
    try {
      const store = await srv.client("write");
      await store.acquireLease("alice", { who: "wes", operation: "op_1" }, 60_000);
      await store.acquireLease("bob", { who: "wes", operation: "op_2" }, 60_000);
      await (await srv.client("admin")).appendAudit({ who: "ann", action: "provision", target: "carol" });
      const env = { ...h.env, AUTOMNA_STATE_URL: srv.url, AUTOMNA_STATE_TOKEN: srv.tokens.read };
      const all = await runCli(["state", "audit", "-o", "json"], { env });
      expect(all.code).toBe(0);
      expect(all.json<AuditEntry[]>().map((a) => [a.who, a.action, a.target])).toEqual([
        ["wes", "lease.acquire", "alice"], ["wes", "lease.acquire", "bob"], ["ann", "provision", "carol"],
      ]);
      const byWho = await runCli(["state", "audit", "--who", "wes", "--target", "bob", "--action", "lease.acquire", "--json"], { env });
      expect(byWho.json<AuditEntry[]>().map((a) => a.target)).toEqual(["bob"]);
      const latest = await runCli(["state", "audit", "--limit", "2", "--columns", "who,action,target", "--no-header"], { env });
      expect(latest.stdout).toBe("wes   lease.acquire   bob\nann   provision       carol\n");
      const future = await runCli(["state", "audit", "--since", "2999-01-01T00:00:00Z", "-o", "json"], { env });
      expect(future.json()).toEqual([]);
      const bad = await runCli(["state", "audit", "--since", "yesterday"], { env });
      expect(bad.code).toBe(2);
    } finally {
      await srv.close();
      await backend.close();
    }
  });

  it("fails with 401 and a hint when no token is configured", async () => {
    const h = home();
    const backend = await openBackend(join(h.dir, "server.db"));
    const srv = await startTestServer(backend);
    try {
      const res = await runCli(["--state", srv.url, "state", "audit"], { env: h.env });
      expect(res.code).toBe(1);
      expect(res.stderr).toBe("Error: state server: a bearer token is required\nHint: set AUTOMNA_STATE_TOKEN (or config state.token) to a token from `automna state token create`\n");
    } finally {
      await srv.close();
      await backend.close();
    }
  });
});

describe("automna state serve", () => {
  it("serves until aborted, then stops cleanly with exit 0", async () => {
    const h = home();
    const db = join(h.dir, "served.db");
    const created = await runCli(["state", "token", "create", "ann", "--scope", "admin", "--db", db], { env: h.env });
    const token = created.stdout.trim();
    const controller = new AbortController();
    let stderr: MemoryStream | undefined;
    const running = runCli(["--json", "state", "serve", "--db", db, "--listen", "127.0.0.1:0"], {
      env: h.env, signal: controller.signal, setup: (ctx) => (stderr = ctx.io.streams.stderr as MemoryStream),
    });
    const url = await until(() => /listening on (\S+)/.exec(stderr?.text() ?? "")?.[1], 2000, 10);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await request(`${url}/healthz`);
    expect(await health.body.json()).toEqual({ status: "ok", backend: "sqlite" });
    const list = await runCli(["--state", url, "lock", "list", "-o", "json"], { env: { ...h.env, AUTOMNA_STATE_TOKEN: token } });
    expect(list.json()).toEqual([]);
    controller.abort();
    const done = await running;
    expect(done.code).toBe(0);
    expect(done.json()).toEqual({ url, backend: "sqlite", db, requests: 2 });
    expect(done.stderr).toContain("shutting down: finishing requests in flight\n");
    expect(done.stderr).not.toContain(token);
  });

  it("rejects bad flags before opening anything", async () => {
    const h = home();
    for (const [args, message] of [
      [["--listen", "nowhere"], '--listen must be host:port (e.g. 127.0.0.1:7070), got "nowhere"'],
      [["--listen", "127.0.0.1:99999"], "--listen port must be a whole number from 0 to 65535"],
      [["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"],
      [["--db", "mysql://x/y"], "--db must be an SQLite file path or a postgres:// URL"],
    ] as const) {
      const res = await runCli(["state", "serve", ...args], { env: h.env });
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(message);
    }
  });

  it("serves https with --tls-cert/--tls-key; the CLI trusts it through state.caFile", async () => {
    const h = home();
    const cert = join(h.dir, "cert.pem");
    const key = join(h.dir, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
      "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
    const db = join(h.dir, "tls.db");
    const token = (await runCli(["state", "token", "create", "ann", "--scope", "read", "--db", db], { env: h.env })).stdout.trim();
    const controller = new AbortController();
    let stderr: MemoryStream | undefined;
    const running = runCli(["state", "serve", "--db", db, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key], {
      env: h.env, signal: controller.signal, setup: (ctx) => (stderr = ctx.io.streams.stderr as MemoryStream),
    });
    const url = await until(() => /listening on (\S+)/.exec(stderr?.text() ?? "")?.[1], 2000, 10);
    expect(url).toMatch(/^https:\/\//);
    const env = { ...h.env, AUTOMNA_STATE_TOKEN: token, AUTOMNA_STATE_URL: url };
    const trusted = await runCli(["lock", "list", "-o", "json"], { env: { ...env, AUTOMNA_STATE_CA_FILE: cert } });
    expect(trusted.code).toBe(0);
    const untrusted = await runCli(["lock", "list"], { env });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/^Error: cannot reach the state server at https:\/\/127\.0\.0\.1:\d+: its TLS certificate is not trusted \(\w+\)\nHint: point state\.caFile/);
    controller.abort();
    expect((await running).code).toBe(0);
  });
});
