import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import { budget, QUIET_MS, until } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { instances, migrateWorld, provision, type MigrateWorld } from "../migrate/world.js";
import { client, type Body } from "../sandbox/helpers.js";

/**
 * `automna import` against the sandbox: every resource here is made straight through the
 * provider's API, as a script or the provider's console would (never through automna), then
 * taken over. Real HTTP on loopback, the real SQLite file, real OpenSSH to the simulated hosts.
 */
let w: MigrateWorld;
let api: { hetzner: ReturnType<typeof client>; digitalocean: ReturnType<typeof client>; fly: ReturnType<typeof client> };
const ids: Record<string, string> = {};

/** Makes a Hetzner server as a script would: the operator's key registered, no automna labels unless given. */
async function hetznerServer(name: string, labels: Record<string, string> = {}): Promise<string> {
  const res = await api.hetzner("POST", "/servers", { name, server_type: "cx22", location: "fsn1", image: "ubuntu-24.04", ssh_keys: ["operator"], labels });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const id = String(res.body.server.id);
  await until(async () => (await api.hetzner("GET", `/servers/${id}`)).body.server.status === "running");
  return id;
}

async function flyApp(name: string, mountPath = "/data", existing = false): Promise<{ machine: string; version: string }> {
  if (!existing) expect((await api.fly("POST", "/v1/apps", { name, org_slug: "personal" })).status).toBe(201);
  const volume = await api.fly("POST", `/v1/apps/${name}/volumes`, { name: "data", region: "ams", size_gb: 1 });
  const m = await api.fly("POST", `/v1/apps/${name}/machines`, {
    region: "ams", config: { image: "ghcr.io/acme/agent:7", guest: { cpu_kind: "shared", cpus: 1, memory_mb: 2048 }, mounts: [{ volume: volume.body.id, path: mountPath }], restart: { policy: "always" } },
  });
  expect(m.status, JSON.stringify(m.body)).toBe(200);
  return { machine: m.body.id, version: m.body.version };
}

const mappingFile = (name: string, text: string): string => {
  const path = join(w.home.dir, name);
  writeFileSync(path, text);
  return path;
};

const store = async <T>(fn: (s: SqliteStore) => Promise<T>): Promise<T> => {
  const s = await SqliteStore.open(w.home.statePath);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
};

beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.87", writeEveryMs: 500, seedBytes: 64 * 1024 });
  api = { hetzner: client(w.sb.urls.hetzner, w.sb.token), digitalocean: client(w.sb.urls.digitalocean, w.sb.token), fly: client(w.sb.urls.fly, w.sb.token) };
  const publicKey = readFileSync(w.env.AUTOMNA_SSH_PUBLIC_KEY!, "utf8").trim();
  expect((await api.hetzner("POST", "/ssh_keys", { name: "operator", public_key: publicKey })).status).toBe(201);
  const doKey = await api.digitalocean("POST", "/v2/account/keys", { name: "operator", public_key: publicKey });
  ids.hana = await hetznerServer("agent-hana");
  ids.spareZoe = await hetznerServer("spare-zoe");
  // An orphan automna made once (its labels name olga) and state lost.
  ids.olga = await hetznerServer("automna-olga", { "automna.managed": "true", "automna.user": "olga", "automna.op": "op_lost" });
  const droplet = await api.digitalocean("POST", "/v2/droplets", { name: "agent-dana", region: "fra1", size: "s-1vcpu-2gb", image: "ubuntu-24-04-x64", ssh_keys: [doKey.body.ssh_key.fingerprint], tags: ["team-a"] });
  expect(droplet.status).toBe(202);
  ids.dana = String(droplet.body.droplet.id);
  const fiona = await flyApp("agent-fiona");
  ids.fionaMachine = fiona.machine;
  ids.fionaVersion = fiona.version;
  await w.sb.settled();
}, budget(QUIET_MS.test * 2));
afterAll(async () => {
  await w?.cleanup();
});

const mapping = (): string => [
  "user,provider,id,data",
  `hana,hetzner,${ids.hana},/var/lib/automna/data`,
  `dana,do,${ids.dana},`,
  "fiona,fly,agent-fiona,/data",
].join("\n");

interface Outcome { user: string; result: string; provider: string; id: string; line: number | null; monthlyPrice: number | null; currency: string | null; hostKey: { accepted: boolean; fingerprints: string[] } | null; error: { code: string; message: string } | null }
type Report = { dryRun: boolean; results: Outcome[]; summary: Record<string, number> };

describe("automna import: take over a fleet automna did not make", () => {
  it("--dry-run shows each user's resource and price and changes nothing, at the provider or in state", async () => {
    const before = (await api.hetzner("GET", `/servers/${ids.hana}`)).body.server.labels;
    const res = await runCli(["--json", "import", "--from-file", mappingFile("dry.csv", mapping()), "--dry-run"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    const report = res.json<Report>();
    expect(report.dryRun).toBe(true);
    expect(report.results.map((r) => [r.user, r.result, r.provider, r.line])).toEqual([["hana", "would-import", "hetzner", 2], ["dana", "would-import", "digitalocean", 3], ["fiona", "would-import", "fly", 4]]);
    expect(report.results.every((r) => (r.monthlyPrice ?? 0) > 0)).toBe(true);
    expect(res.stderr).toContain("3 would be imported, 0 already imported, 0 refused, 0 failed; dry run, nothing changed");
    expect((await api.hetzner("GET", `/servers/${ids.hana}`)).body.server.labels).toEqual(before);
    expect(await store((s) => s.listInstances())).toEqual([]);
  });

  it("imports one user per provider from a mapping; a user with an instance, another user's resource and a missing one are refused (exit 3)", async () => {
    await provision(w, "digitalocean", ["zoe"]);
    const zoeDroplet = (await instances(w, "zoe"))[0]!.resources.droplet!;
    const started = new Date().toISOString();
    const file = mappingFile("users.csv", [
      mapping(),
      `zoe,hetzner,${ids.spareZoe}`,
      `victor,hetzner,${ids.olga}`,
      "ghost,hetzner,99999999",
      `zara,do,${zoeDroplet}`,
      "zed,do,99999998",
      "nobody,fly,no-such-app",
    ].join("\n"));
    const res = await runCli(["--json", "import", "--from-file", file], { env: w.env });
    expect(res.code, res.stderr).toBe(3);
    const report = res.json<Report>();
    expect(report.summary).toEqual({ imported: 3, "already-imported": 0, "would-import": 0, refused: 3, failed: 3 });
    const by = Object.fromEntries(report.results.map((r) => [r.user, r]));
    expect(by.zoe!.error).toMatchObject({ code: "conflict", message: `zoe already has an instance on digitalocean (droplet ${zoeDroplet}), not Hetzner Cloud server id ${ids.spareZoe}` });
    expect(by.zara!.error).toMatchObject({ code: "conflict", message: `DigitalOcean droplet id ${zoeDroplet} is already zoe's instance in automna's state` });
    expect(by.zed!.error).toMatchObject({ code: "not_found", message: "DigitalOcean droplet id 99999998 does not exist" });
    expect(by.nobody!.error).toMatchObject({ code: "not_found", message: "Fly.io app name no-such-app does not exist" });
    expect(by.victor!.error).toMatchObject({ code: "conflict", message: `Hetzner Cloud server id ${ids.olga} carries automna's markers for user olga` });
    expect(by.ghost!).toMatchObject({ result: "failed", line: 7, error: { code: "not_found", message: "Hetzner Cloud server id 99999999 does not exist" } });
    // VMs imported without --accept-host-key: said, and their host keys stay unaccepted.
    expect(by.hana!.hostKey).toEqual({ accepted: false, fingerprints: [] });
    expect(by.fiona!.hostKey).toBeNull();
    expect(res.stderr).toContain("no SSH host key accepted for hana, dana: ssh, exec and migrate refuse those machines until you run the import again with --accept-host-key");

    // The rows look like provision's: live, the provider's region/size/status, the price, the marker, usage open from now.
    const hana = (await instances(w, "hana"))[0]!;
    expect(hana).toMatchObject({ role: "live", provider: "hetzner", status: "running", resources: { server: ids.hana }, meta: { api: { endpoint: w.sb.urls.hetzner }, imported: { file: join(w.home.dir, "users.csv"), id: ids.hana, name: "agent-hana", dataLocation: "/var/lib/automna/data" } } });
    const plan = await runCli(["--json", "provision", "someone", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--dry-run"], { env: w.env });
    expect(by.hana!.monthlyPrice).toBe(plan.json<{ plan: { monthlyPrice: number }[] }>().plan[0]!.monthlyPrice);
    const fiona = (await instances(w, "fiona"))[0]!;
    expect(fiona).toMatchObject({ provider: "fly", status: "running", resources: { app: "agent-fiona", machine: ids.fionaMachine } });
    const usage = await store((s) => s.listUsage({ openOnly: true }));
    expect(usage.filter((u) => ["hana", "dana", "fiona"].includes(u.user)).every((u) => u.start >= started)).toBe(true);
    expect(new Set(usage.map((u) => u.user))).toEqual(new Set(["zoe", "hana", "dana", "fiona"]));

    // automna's markers at the provider, next to what was there; Fly's machine was not restarted.
    expect((await api.hetzner("GET", `/servers/${ids.hana}`)).body.server.labels).toMatchObject({ "automna.managed": "true", "automna.user": "hana", "automna.op": expect.stringMatching(/^op_/) });
    expect((await api.digitalocean("GET", `/v2/droplets/${ids.dana}`)).body.droplet.tags).toEqual(expect.arrayContaining(["team-a", "automna", "automna-user-dana"]));
    const machine = (await api.fly("GET", `/v1/apps/agent-fiona/machines/${ids.fionaMachine}`)).body as Body;
    expect(machine.config.metadata).toMatchObject({ automna_managed: "true", automna_user: "fiona" });
    expect([machine.version, machine.state]).toEqual([ids.fionaVersion, "started"]);
    // Under leases, all released; audited; the refused ones left untouched.
    expect(await store((s) => s.listLeases())).toEqual([]);
    const audit = await store((s) => s.listAudit({ action: "import" }));
    expect(audit.map((a) => a.target).sort()).toEqual(["dana", "fiona", "hana"]);
    expect((await api.hetzner("GET", `/servers/${ids.spareZoe}`)).body.server.labels).toEqual({});
    expect(await instances(w, "victor")).toEqual([]);
    // Status and list know them as automna's own.
    const status = await runCli(["status", "fiona", "--json"], { env: w.env });
    expect(status.json<{ live: { status: string }; health: { ok: boolean } }>()).toMatchObject({ live: { status: "running" } });
  }, budget(QUIET_MS.test * 2));

  it("re-running the mapping is a no-op: every user already imported, exit 0, nothing written; the same app for another user is refused", async () => {
    const before = await store(async (s) => ({ rows: await s.listInstances(), usage: await s.listUsage({}), audit: (await s.listAudit()).filter((a) => !a.action.startsWith("lease.")) }));
    const res = await runCli(["import", "--from-file", mappingFile("again.csv", mapping())], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain("0 imported, 3 already imported, 0 refused, 0 failed");
    expect(res.stdout).toMatch(/hana\s+already-imported\s+hetzner/);
    const other = await runCli(["--json", "import", "--from-file", "-"], { env: w.env, stdin: "fiona2,fly,agent-fiona\n" });
    expect(other.code).toBe(1);
    expect(other.json<Report>().results[0]!.error).toMatchObject({ code: "conflict", message: "Fly.io app name agent-fiona is already fiona's instance in automna's state" });
    const after = await store(async (s) => ({ rows: await s.listInstances(), usage: await s.listUsage({}), audit: (await s.listAudit()).filter((a) => !a.action.startsWith("lease.")) }));
    expect(after).toEqual(before);
  });

  it("ssh, exec and migrate refuse a VM whose host key was never accepted; --accept-host-key records the key it presents and prints its fingerprint", async () => {
    const ssh = await runCli(["ssh", "hana", "--", "true"], { env: w.env });
    expect(ssh.code).toBe(1);
    expect(ssh.stderr).toContain("Error: hana's hetzner machine was imported without accepting its SSH host key, so automna will not connect to it");
    expect(ssh.stderr).toContain(`(automna import --from-file ${join(w.home.dir, "users.csv")} --accept-host-key)`);
    const exec = await runCli(["--json", "exec", "dana", "--", "true"], { env: w.env });
    expect(exec.json<{ error: { code: string } }[]>()[0]!.error.code).toBe("host_key_unknown");
    const migrate = await runCli(["migrate", "hana", "--from", "hetzner", "--to", "fly", "--yes"], { env: w.env });
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toContain("--accept-host-key");
    expect((await instances(w, "hana")).map((r) => r.role)).toEqual(["live"]);

    const res = await runCli(["--json", "import", "--from-file", mappingFile("accept.csv", mapping()), "--accept-host-key"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    const hana = res.json<Report>().results.find((r) => r.user === "hana")!;
    const presented = w.sb.simHost(`hetzner:${ids.hana}`)!.hostKeyPublic;
    const fingerprint = `SHA256:${createHash("sha256").update(Buffer.from(presented.split(" ")[1]!, "base64")).digest("base64").replace(/=+$/, "")}`;
    expect(hana).toMatchObject({ result: "already-imported", hostKey: { accepted: true, fingerprints: [fingerprint] } });
    expect(res.stderr).toContain(`hana: SSH host key accepted on first use and pinned: ${fingerprint}`);
    expect((await instances(w, "hana"))[0]!.meta.hostKeys).toEqual([presented]);
    expect(readFileSync(join(w.home.dir, "data", "automna", "known_hosts"), "utf8")).toContain(presented);
    const ok = await runCli(["exec", "hana", "dana", "--", "hostname"], { env: w.env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.split("\n").sort().filter(Boolean)).toEqual(["dana | agent-dana", "hana | agent-hana"]);
  });

  it("--match takes over every resource named by the pattern; an orphan automna made is adopted as its marked user", async () => {
    await hetznerServer("agent-max");
    await flyApp("agent-fred");
    await w.sb.settled();
    const res = await runCli(["--json", "import", "--match", "agent-{user}", "--provider", "hetzner", "--accept-host-key"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    expect(res.json<Report>().results.map((r) => [r.user, r.result])).toEqual([["hana", "already-imported"], ["max", "imported"]]);
    expect(res.json<Report>().results[1]!.hostKey?.accepted).toBe(true);
    const fly = await runCli(["--json", "import", "--match", "agent-{user}", "--provider", "fly"], { env: w.env });
    expect(fly.json<Report>().results.map((r) => [r.user, r.result])).toEqual([["fiona", "already-imported"], ["fred", "imported"]]);
    const orphan = await runCli(["--json", "import", "--match", "automna-{user}", "--provider", "hetzner", "--accept-host-key"], { env: w.env });
    expect(orphan.json<Report>().results.map((r) => [r.user, r.result])).toEqual([["olga", "imported"]]);
    // The fleet is automna's now: doctor finds no orphans, nothing missing or mismatched.
    const doctor = await runCli(["doctor", "--json"], { env: w.env });
    expect(doctor.code, doctor.stdout).toBe(0);
    const fred = await runCli(["exec", "fred", "--", "ls", "/data"], { env: w.env });
    expect(fred.code, fred.stderr).toBe(0);
  });

  it("a mapping with bad rows names each with its line and imports nothing (exit 2); so does a file that is not a mapping", async () => {
    const nina = await hetznerServer("nina-box");
    const csv = mappingFile("bad.csv", [
      "user,provider,id",
      `nina,hetzner,${nina}`,
      "Bad_User,hetzner,1",
      "x,aws,1",
      "y,hetzner,abc",
      `nina,fly,agent-nina`,
      "z,hetzner",
    ].join("\n"));
    const res = await runCli(["import", "--from-file", csv], { env: w.env });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`Error: ${csv} has 5 bad rows; nothing was imported\n`);
    expect(res.stderr).toContain('  line 3: invalid user id "Bad_User"');
    expect(res.stderr).toContain('  line 4: unknown provider "aws" (hetzner, fly, digitalocean');
    expect(res.stderr).toContain('  line 5: a Hetzner server id is a number');
    expect(res.stderr).toContain("  line 6: user nina is already mapped on line 2");
    expect(res.stderr).toContain("  line 7: 2 fields, expected 3 (user,provider,id)");
    const json = mappingFile("bad.json", `[\n  {"user": "nina", "provider": "hetzner", "id": "${nina}"},\n  {"user": "nina2",\n   "provider": "hetzner", "idd": "1"}\n]\n`);
    const bad = await runCli(["--json", "import", "--from-file", json], { env: w.env });
    expect(bad.code).toBe(2);
    expect(bad.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: "bad_mapping", message: expect.stringContaining('line 3: entry 2: unknown field "idd"') });
    const broken = await runCli(["import", "--from-file", "-"], { env: w.env, stdin: '[{"user": "nina", ' });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/^Error: stdin is not a usable mapping: invalid JSON/);
    expect(await instances(w, "nina")).toEqual([]);
    expect((await api.hetzner("GET", `/servers/${nina}`)).body.server.labels).toEqual({});
  });

  it("an imported user migrates like any other: hana from Hetzner to Fly with /data intact", async () => {
    const seeded = await runCli(["exec", "hana", "--", 'D=${AUTOMNA_DATA:-/data}; head -c 300000 /dev/urandom > "$D/imported.bin"; sha256sum "$D/imported.bin"'], { env: w.env });
    expect(seeded.code, seeded.stderr).toBe(0);
    const sum = /\b[0-9a-f]{64}\b/.exec(seeded.stdout)![0];
    const res = await runCli(["migrate", "hana", "--from", "hetzner", "--to", "fly", "--yes", "--json"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    const rows = await instances(w, "hana");
    expect(rows.map((r) => [r.role, r.provider]).sort()).toEqual([["live", "fly"], ["retired", "hetzner"]]);
    const check = await until(async () => {
      const r = await runCli(["exec", "hana", "--", "sha256sum /data/imported.bin"], { env: w.env });
      return r.code === 0 ? r : undefined;
    });
    expect(/\b[0-9a-f]{64}\b/.exec(check.stdout)![0]).toBe(sum);
    // The old mapping run again: the retired source is automna's already, and its billing stays as the migration left it.
    const usage = await store((s) => s.listUsage({ user: "hana", openOnly: true }));
    const again = await runCli(["--json", "import", "--from-file", "-"], { env: w.env, stdin: `hana,hetzner,${ids.hana}\n` });
    expect([again.code, again.json<Report>().results[0]!.result]).toEqual([0, "already-imported"]);
    expect(await store((s) => s.listUsage({ user: "hana", openOnly: true }))).toEqual(usage);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("a Fly app with several machines is named app/machine; one whose volume is not at /data is not taken over", async () => {
    const first = await flyApp("agent-gil");
    await flyApp("agent-gil", "/data", true);
    await flyApp("agent-sam", "/state");
    await w.sb.settled();
    const res = await runCli(["--json", "import", "--from-file", "-"], { env: w.env, stdin: "gil,fly,agent-gil\nsam,fly,agent-sam\n" });
    expect(res.code).toBe(1);
    const [gil, sam] = res.json<Report>().results;
    expect(gil!.error).toMatchObject({ code: "ambiguous", message: expect.stringMatching(/^the Fly app agent-gil has 2 machines/) });
    expect(sam!.error).toMatchObject({ code: "unsupported_layout", message: expect.stringContaining("mounts its volume at /state, not at /data") });
    const named = await runCli(["--json", "import", "--from-file", "-"], { env: w.env, stdin: `gil,fly,agent-gil/${first.machine}\n` });
    expect(named.code, named.stderr).toBe(0);
    expect((await instances(w, "gil"))[0]!.resources).toMatchObject({ app: "agent-gil", machine: first.machine });
    expect(await instances(w, "sam")).toEqual([]);
  });
});
