/**
 * Off Cloudflare Sandbox (#14): a fleet seeded on the bridge stand-in (users automna never made,
 * their data in R2) is imported from a mapping, reached through the bridge, and migrated to Fly
 * and on to Hetzner; SIGKILL after every step (chained through resumes) then resume, a rollback that wakes the sandbox
 * again, a sandbox that falls asleep mid-migration while its data changes, a wrong bridge key.
 * The CLI's bridge traffic goes through a recorder and is checked against the bridge's spec.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATE_STEPS } from "../../src/migrate/types.js";
import { ObjectStore } from "../../src/sandbox/s3-store.js";
import { automna } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { loadSpec } from "../conformance/openapi-doc.js";
import { OpenApiValidator } from "../conformance/openapi-validator.js";
import { startRecorder, type Recorder } from "../conformance/recorder.js";
import { expectCarriedOver, hostDir, instances, killedAlong, migrateWorld, migrationOf, type MigrateWorld } from "./world.js";

const USERS = 8;
let w: MigrateWorld;
let recorder: Recorder;
/** user -> sandbox id, from the seeded mapping. */
const sandboxes = new Map<string, string>();
let mappingPath = "";

beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.89", writeEveryMs: 300, seedBytes: 32 * 1024, seedCloudflare: USERS });
  recorder = await startRecorder(w.env.AUTOMNA_CF_SANDBOX_URL!);
  w.env.AUTOMNA_CF_SANDBOX_URL = recorder.url;
  mappingPath = w.sb.seeded["cloudflare-sandbox"]!.mapping;
  for (const line of readFileSync(mappingPath, "utf8").trim().split("\n").slice(1)) {
    const [user, , id] = line.split(",");
    sandboxes.set(user!, id!);
  }
}, budget(QUIET_MS.test));
afterAll(async () => {
  await recorder?.close();
  await w?.cleanup();
});

const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: { ...w.env, ...extra } });

/** The user's R2 prefix in the sandbox's object store: relative path -> sha256. */
async function prefixTree(user: string): Promise<Record<string, string>> {
  const store = new ObjectStore(join(w.sb.dir, "s3"));
  const prefix = `users/${user}/`;
  const out: Record<string, string> = {};
  const listed = await store.list("automna", { prefix, maxKeys: 1000 });
  for (const o of listed.objects) {
    const opened = await store.open("automna", o.key);
    const hash = createHash("sha256");
    for await (const chunk of opened!.stream) hash.update(chunk as Buffer);
    out[o.key.slice(prefix.length)] = hash.digest("hex");
  }
  return out;
}

/** The user's frozen R2 prefix written out as a directory, to compare with a host's /data. */
async function prefixDir(user: string): Promise<string> {
  const dir = mkdtempSync(join(w.home.dir, `${user}-prefix-`));
  const store = new ObjectStore(join(w.sb.dir, "s3"));
  const prefix = `users/${user}/`;
  for (const o of (await store.list("automna", { prefix, maxKeys: 1000 })).objects) {
    const path = join(dir, ...o.key.slice(prefix.length).split("/"));
    mkdirSync(dirname(path), { recursive: true });
    const chunks: Buffer[] = [];
    for await (const chunk of (await store.open("automna", o.key))!.stream) chunks.push(chunk as Buffer);
    writeFileSync(path, Buffer.concat(chunks));
  }
  return dir;
}

/** Everything the frozen prefix holds is on the user's live instance (see expectCarriedOver). */
async function expectOnLive(user: string, provider: string): Promise<void> {
  const live = (await instances(w, user)).filter((r) => r.role === "live");
  expect(live.map((r) => r.provider)).toEqual([provider]);
  expect(expectCarriedOver(await prefixDir(user), join(hostDir(w, live[0]!), "data"))).toEqual([]);
}

const mapping = (name: string, rows: string[]): string => {
  const path = join(w.home.dir, name);
  writeFileSync(path, ["user,provider,id,data", ...rows].join("\n"));
  return path;
};

const opOf = (user: string): Promise<string> => migrationOf(w, user);

describe("a seeded Cloudflare Sandbox fleet", () => {
  it("refuses a mapping with bad rows as a whole, one line each, importing nothing", async () => {
    const bad = mapping("bad.csv", [
      `cf-user-1,cloudflare-sandbox,NOT-AN-ID,r2://automna/users/cf-user-1/`,
      `cf-user-2,cloudflare-sandbox,${sandboxes.get("cf-user-2")},s3://elsewhere/users/cf-user-2/`,
      `cf-user-3,cloudflare-sandbox,${sandboxes.get("cf-user-3")},r2://automna/users/../x/`,
    ]);
    const res = await cli(["import", "--from-file", bad]);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain("line 2");
    expect(res.stderr).toContain("NOT-AN-ID");
    expect(res.stderr).toContain("line 3");
    expect(res.stderr).toContain("r2://<bucket>/<prefix>/");
    expect(res.stderr).toContain("line 4");
    expect((await cli(["list", "-o", "json"])).json<unknown[]>()).toEqual([]);
  });

  it("imports per mapping: a missing prefix and someone else's sandbox refused per row, a re-run changes nothing", async () => {
    const rows = readFileSync(mappingPath, "utf8").trim().split("\n").slice(1);
    const withMissing = mapping("fleet.csv", [...rows, `nobody,cloudflare-sandbox,${"a".repeat(26)},r2://automna/users/nobody/`]);
    const first = await cli(["import", "--from-file", withMissing, "--json"]);
    expect(first.code, first.stderr).toBe(3);
    const results = first.json<{ results: { user: string; result: string; error: { message: string } | null }[] }>().results;
    expect(results.filter((r) => r.result === "imported").map((r) => r.user).sort()).toEqual([...sandboxes.keys()].sort());
    expect(results.find((r) => r.user === "nobody")!.error!.message).toContain("does not exist");

    const again = await cli(["import", "--from-file", mappingPath, "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(new Set(again.json<{ results: { result: string }[] }>().results.map((r) => r.result))).toEqual(new Set(["already-imported"]));

    const taken = mapping("taken.csv", [`zed,cloudflare-sandbox,${sandboxes.get("cf-user-7")},r2://automna/users/cf-user-7/`, `cf-user-8,cloudflare-sandbox,${sandboxes.get("cf-user-7")!.replace(/^./, "b")},r2://automna/users/cf-user-7/`]);
    const conflict = await cli(["import", "--from-file", taken, "--json"]);
    expect([1, 3], conflict.stderr).toContain(conflict.code);
    expect(conflict.json<{ results: { user: string; result: string }[] }>().results.map((r) => [r.user, r.result])).toEqual([["zed", "refused"], ["cf-user-8", "refused"]]);

    const list = await cli(["list", "--provider", "cloudflare-sandbox", "-o", "json"]);
    expect(list.json<unknown[]>()).toHaveLength(USERS);
    const report = await cli(["cost-report", "--compare", "--plan-price", "29,79", "-o", "json"]);
    expect(report.code, report.stderr).toBe(0);
  });

  it("runs exec and ssh -- cmd through the bridge's exec stream (exit code passed on, binary stdin) and says a wrong key is wrong without showing it", async () => {
    const res = await cli(["exec", "cf-user-8", "--json", "--", "echo out; echo err >&2; exit 7"]);
    const [one] = res.json<{ exitCode: number; stdout: string; stderr: string }[]>();
    expect([one!.exitCode, one!.stdout, one!.stderr]).toEqual([7, "out\n", "err\n"]);
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const echoed = await runCli(["ssh", "cf-user-8", "--", "sha256sum; exit 5"], { env: w.env, stdin: bytes });
    expect(echoed.code, echoed.stderr).toBe(5);
    expect(echoed.stdout).toContain(createHash("sha256").update(bytes).digest("hex"));
    for (const command of ["exec", "ssh"]) {
      const wrong = await cli([command, "cf-user-8", "--", "true"], { SANDBOX_API_KEY: "wrong-bridge-key-123456" });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain("Cloudflare Sandbox rejected the API token (401 unauthorized");
      expect(wrong.stderr).not.toContain("wrong-bridge-key-123456");
      if (command === "ssh") expect(wrong.stderr).toContain("check SANDBOX_API_KEY");
    }
  });

  it("moves a user to Fly and on to Hetzner with equal checksums at every hop", async () => {
    const before = await prefixTree("cf-user-1");
    expect(Object.keys(before)).toContain("blobs/embedding.bin");
    const toFly = await cli(["migrate", "cf-user-1", "--from", "cloudflare-sandbox", "--to", "fly", "--yes", "--json"]);
    expect(toFly.code, toFly.stderr).toBe(0);
    // Frozen by stopping the sandbox: the prefix no longer changes, and Fly has all of it.
    await expectOnLive("cf-user-1", "fly");
    const hop = await cli(["migrate", "cf-user-1", "--from", "fly", "--to", "hetzner", "--yes", "--json"]);
    expect(hop.code, hop.stderr).toBe(0);
    const rows = await instances(w, "cf-user-1");
    const fly = rows.find((r) => r.provider === "fly")!;
    const hetzner = rows.find((r) => r.provider === "hetzner" && r.role === "live")!;
    expect(expectCarriedOver(join(hostDir(w, fly), "data"), join(hostDir(w, hetzner), "data"))).toEqual([]);
    expect(readFileSync(join(hostDir(w, hetzner), "data", "blobs", "embedding.bin")).equals(Buffer.from(before["blobs/embedding.bin"] === undefined ? "" : readFileSync(join(await prefixDir("cf-user-1"), "blobs", "embedding.bin"))))).toBe(true);
    // Retired, not deleted: the prefix stays for the grace period.
    expect(Object.keys(await prefixTree("cf-user-1")).length).toBeGreaterThan(0);
  }, budget(3 * QUIET_MS.migration));

  it("carries data written between the warm and the final copy, with the sandbox asleep in between", async () => {
    const killed = await automna(["migrate", "cf-user-2", "--from", "cloudflare-sandbox", "--to", "fly", "--yes", "--json"], { ...w.env, AUTOMNA_CRASH_AT: "warm-restore:after" }, { quietMs: QUIET_MS.migration });
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    const wrote = await cli(["exec", "cf-user-2", "--", 'head -c 3000 /dev/urandom > "${AUTOMNA_DATA:-/data}/late.bin"']);
    expect(wrote.code, wrote.stderr).toBe(0);
    // Asleep: the container stops (its disk goes) while the migration waits to be resumed.
    const admin = await fetch(`${w.sb.urls.admin}/cloudflare-sandbox/containers/${sandboxes.get("cf-user-2")}`, { method: "DELETE" });
    expect(admin.status).toBeLessThan(300);
    const done = await automna(["migrate", "resume", await opOf("cf-user-2"), "--yes", "--json"], w.env, { quietMs: QUIET_MS.migration });
    expect(done.exitCode, done.stderr).toBe(0);
    expect((await prefixTree("cf-user-2"))["late.bin"]).toBeDefined();
    await expectOnLive("cf-user-2", "fly");
  }, budget(3 * QUIET_MS.migration));

  // Every step past the lock is a kill point: each test's migration is killed at the first point
  // of its run, a resume at each next one, and a last resume finishes (crash.test.ts's chains).
  const POINTS = MIGRATE_STEPS.filter((step) => step !== "lock").map((step) => `${step}:after`);
  const KILLS = [3, 4, 5].map((n, i, all) => {
    const per = Math.ceil(POINTS.length / all.length);
    const chain = POINTS.slice(i * per, (i + 1) * per);
    return { user: `cf-user-${n}`, chain, points: chain.join(", ") };
  });
  it.concurrent.for(KILLS)("SIGKILL of $user's migration and resumes at $points, then a last resume: one live Fly target, equal checksums", { timeout: budget(8 * QUIET_MS.migration) }, async ({ user, chain }) => {
    const op = await killedAlong(w, user, { from: "cloudflare-sandbox", to: "fly" }, chain, QUIET_MS.migration * 2);
    const done = await automna(["migrate", "resume", op, "--yes", "--json"], w.env, { quietMs: QUIET_MS.migration * 2 });
    expect(done.exitCode, done.stderr).toBe(0);
    await expectOnLive(user, "fly");
  });

  it("rolls back before the switch by waking the sandbox again (the Worker mounts the prefix, the agent starts)", async () => {
    const killed = await automna(["migrate", "cf-user-6", "--from", "cloudflare-sandbox", "--to", "fly", "--yes", "--json"], { ...w.env, AUTOMNA_CRASH_AT: "final-restore:after" }, { quietMs: QUIET_MS.migration });
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    const back = await cli(["migrate", "rollback", await opOf("cf-user-6"), "--yes", "--json"]);
    expect(back.code, back.stderr).toBe(0);
    const rows = await instances(w, "cf-user-6");
    expect(rows.filter((r) => r.role === "live").map((r) => r.provider)).toEqual(["cloudflare-sandbox"]);
    const ls = await cli(["exec", "cf-user-6", "--", 'ls "${AUTOMNA_DATA:-/data}/blobs"']);
    expect(ls.stdout).toContain("embedding.bin");
  }, budget(2 * QUIET_MS.migration));

  it("refuses to provision on Cloudflare Sandbox unless --allow-sleep, and then flags it not always-on", async () => {
    const refused = await cli(["provision", "zed", "--provider", "cloudflare-sandbox", "--region", "auto", "--size", "basic"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("sleep 10 minutes after the last request");
    expect(refused.stderr).toContain("--allow-sleep");
    const made = await cli(["provision", "zed", "--provider", "cloudflare-sandbox", "--region", "auto", "--size", "basic", "--allow-sleep", "--json"]);
    expect(made.code, made.stderr).toBe(0);
    const status = await cli(["status", "zed", "--json"]);
    expect(JSON.stringify(status.json())).toContain("not always-on");
    const ran = await cli(["exec", "zed", "--json", "--", 'test -d "${AUTOMNA_DATA:-/data}" && echo mounted']);
    expect(ran.json<{ stdout: string }[]>()[0]!.stdout).toBe("mounted\n");
  });

  it("destroys a sandbox keeping its data prefix, and deletes the prefix only with --delete-data", async () => {
    const kept = await cli(["destroy", "cf-user-7", "--yes", "--json"]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(Object.keys(await prefixTree("cf-user-7")).length).toBeGreaterThan(0);
    const gone = await cli(["destroy", "cf-user-8", "--delete-data", "--yes", "--json"]);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.json<{ removed: string[] }[]>()[0]!.removed.join(", ")).toContain("data prefix automna/users/cf-user-8/");
    expect(await prefixTree("cf-user-8")).toEqual({});
  });

  it("sent the bridge only requests and got only answers its spec describes", () => {
    expect(recorder.exchanges.length).toBeGreaterThan(0);
    const validator = new OpenApiValidator(loadSpec("cloudflare-sandbox-bridge.openapi.json", []));
    const violations = recorder.exchanges.flatMap((ex) => validator.check(ex));
    expect([...new Set(violations.map((v) => `${v.kind}: ${v.exchange.replace(/\?.*/, "")}: ${v.message}`))]).toEqual([]);
  });
});
