/**
 * The Cloudflare Sandbox bridge stand-in over real HTTP: IDs checked before the token, Bearer
 * auth, `{error, code}` bodies, exec as server-sent events, files and persist/hydrate with the
 * 32 MiB limit, a bucket prefix mounted at the data path, containers that sleep when idle and come
 * back with an empty disk (the prefix's objects all that stays), the instance limit and faults.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseExecStream } from "../../src/providers/cloudflare-sandbox/client.js";
import { QUIET_MS, until } from "../helpers/budget.js";
import { sandbox, type Sandbox } from "./helpers.js";

let sb: Sandbox;
let base = "";
/** The first seeded user's sandbox ID and prefix. */
let seeded = "";

beforeAll(async () => {
  // A 5 ms action delay makes the idle time before a container sleeps 10 s (10 minutes at 300 ms).
  sb = await sandbox({ actionDelayMs: 5, addressBase: "127.90", sshPort: 22190, seed: { "cloudflare-sandbox": 1 } });
  base = sb.urls["cloudflare-sandbox"];
  seeded = (await import("../../src/sandbox/cloudflare-sandbox/seed.js")).seededSandboxId("cf-user-1");
});
afterAll(() => sb?.cleanup());
/** How long a container stays idle before it sleeps at the 5 ms action delay above. */
const IDLE_MS = 10_000;

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}, token: string | null = sb.token) => fetch(`${base}${path}`, {
  method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined && !Buffer.isBuffer(body) ? { "content-type": "application/json" } : {}), ...headers },
  body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
});
const exec = async (id: string, argv: string[], extra: Record<string, unknown> = {}) => {
  const res = await call("POST", `/v1/sandbox/${id}/exec`, { argv, ...extra });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  return parseExecStream(await res.text());
};

describe("the Cloudflare Sandbox bridge stand-in", () => {
  it("checks the ID before the token, answers 401 in its own shape, and serves /health without one", async () => {
    const bad = await call("GET", "/v1/sandbox/NOT_VALID/running", undefined, {}, null);
    expect([bad.status, await bad.json()]).toEqual([400, { error: "sandbox id must match [a-z2-7]{1,128}", code: "invalid_request" }]);
    const anon = await call("GET", "/v1/sandbox/abc/running", undefined, {}, "wrong");
    expect([anon.status, await anon.json()]).toEqual([401, { error: "Unauthorized", code: "unauthorized" }]);
    const lower = await fetch(`${base}/v1/pool/stats`, { headers: { authorization: `bearer ${sb.token}` } });
    expect(lower.status).toBe(200);
    const health = await fetch(`${base}/health`);
    expect([health.status, await health.json()]).toEqual([200, { ok: true }]);
    const minted = (await (await call("POST", "/v1/sandbox")).json()) as { id: string };
    expect(minted.id).toMatch(/^[a-z2-7]{26}$/);
    const gone = await call("DELETE", "/v1/sandbox/neverusedbefore");
    expect(gone.status).toBe(204);
  });

  it("runs argv as one shell command and streams stdout, stderr and the exit code as events; cwd outside /workspace is 403", async () => {
    const r = await exec("execsandbox", ["sh", "-c", "printf 'a b'; printf err >&2; exit 3"]);
    expect([r.stdout.toString(), r.stderr.toString(), r.exitCode]).toEqual(["a b", "err", 3]);
    const quoted = await exec("execsandbox", ["printf", "%s|", "it's", "$HOME", "two words"]);
    expect(quoted.stdout.toString()).toBe("it's|$HOME|two words|");
    const outside = await call("POST", "/v1/sandbox/execsandbox/exec", { argv: ["true"], cwd: "/workspace/../etc" });
    expect([outside.status, await outside.json()]).toEqual([403, { error: "cwd must resolve to a location within /workspace", code: "invalid_request" }]);
    const empty = await call("POST", "/v1/sandbox/execsandbox/exec", { argv: [] });
    expect([empty.status, ((await empty.json()) as { code: string }).code]).toEqual([400, "invalid_request"]);
  });

  it("writes and reads files under /workspace (32 MiB at most) and round-trips persist and hydrate", async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect((await call("PUT", "/v1/sandbox/filesandbox/file/workspace/sub/bin.dat", bytes)).status).toBe(200);
    const back = await call("GET", "/v1/sandbox/filesandbox/file/workspace/sub/bin.dat");
    expect(Buffer.from(await back.arrayBuffer()).equals(bytes)).toBe(true);
    const missing = await call("GET", "/v1/sandbox/filesandbox/file/workspace/nope");
    expect([missing.status, ((await missing.json()) as { code: string }).code]).toEqual([404, "workspace_read_not_found"]);
    expect((await call("GET", "/v1/sandbox/filesandbox/file/etc/passwd")).status).toBe(403);

    const tar = Buffer.from(await (await call("POST", "/v1/sandbox/filesandbox/persist")).arrayBuffer());
    expect(execFileSync("tar", ["-tf", "-"], { input: tar }).toString()).toContain("./sub/bin.dat");
    const dir = mkdtempSync(join(tmpdir(), "cf-hydrate-"));
    writeFileSync(join(dir, "new.txt"), "hydrated");
    const archive = execFileSync("tar", ["-C", dir, "-cf", "-", "."]);
    expect((await call("POST", "/v1/sandbox/filesandbox/hydrate", archive)).status).toBe(200);
    expect(await (await call("GET", "/v1/sandbox/filesandbox/file/workspace/new.txt")).text()).toBe("hydrated");
    expect(await (await call("GET", "/v1/sandbox/filesandbox/file/workspace/sub/bin.dat")).arrayBuffer()).toHaveProperty("byteLength", 256);
    const big = Buffer.alloc(32 * 1024 * 1024 + 1);
    const tooBig = await call("PUT", "/v1/sandbox/filesandbox/file/workspace/big", big);
    expect([tooBig.status, ((await tooBig.json()) as { code: string }).code]).toEqual([413, "payload_too_large"]);
    const hydrateBig = await call("POST", "/v1/sandbox/filesandbox/hydrate", big);
    expect([hydrateBig.status, ((await hydrateBig.json()) as { code: string }).code]).toEqual([400, "invalid_request"]);
  });

  it("mounts the Worker's prefix at start, sleeps when idle with its disk gone, and wakes with the prefix's objects (what was written kept)", async () => {
    const ls = await exec(seeded, ["sh", "-c", 'ls "$AUTOMNA_DATA/blobs"; echo kept > "$AUTOMNA_DATA/notes/written.txt"; echo lost > "$HOME/scratch.txt"']);
    expect(ls.stdout.toString()).toContain("embedding.bin");
    const summary = async () => ((await (await fetch(`${sb.urls.admin}/world`)).json()) as Record<string, { sandboxes?: { id: string; running: boolean; starts: number }[] }>);
    const state = async () => (await summary())["cloudflare-sandbox"]?.sandboxes?.find((s) => s.id === seeded);
    const before = await state();
    // Asleep after the idle time (10 s here): no container any more.
    await until(async () => (await state())?.running === false, IDLE_MS + QUIET_MS.poll);
    const after = await exec(seeded, ["sh", "-c", 'cat "$AUTOMNA_DATA/notes/written.txt"; ls "$HOME/scratch.txt" 2>&1 || true']);
    expect(after.stdout.toString()).toContain("kept");
    expect(after.stdout.toString()).toContain("No such file");
    expect((await state())!.starts).toBe((before?.starts ?? 0) + 1);
  });

  it("refuses a container beyond max_instances with 503 capacity_exceeded, and answers faults in its own shape", async () => {
    const stats = (await (await call("GET", "/v1/pool/stats")).json()) as { assigned: number; maxInstances: number };
    // Wake new sandboxes until one is refused: an idle one may fall asleep meanwhile and free its
    // slot, so the refusal is asserted where it happens, within one past the limit.
    let over: Response | undefined;
    for (let i = 0; i <= stats.maxInstances && !over; i++) {
      const res = await call("GET", `/v1/sandbox/fill${"abcdefghijklmnopqrstuvwxyz"[i]}/running`);
      if (res.status !== 200) over = res;
    }
    expect([over?.status, ((await over?.json()) as { code: string } | undefined)?.code]).toEqual([503, "capacity_exceeded"]);
    sb.setFaults({ rules: [{ kind: "error", provider: "cloudflare-sandbox", path: "/v1/pool/stats", status: 502, count: 1 }] });
    const fault = await call("GET", "/v1/pool/stats");
    expect([fault.status, ((await fault.json()) as { code: string }).code]).toEqual([502, "pool_error"]);
  });
});
