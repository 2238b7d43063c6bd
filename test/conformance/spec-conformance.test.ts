/**
 * automna's own traffic against the providers' published specs: a whole workflow (provision on
 * every provider with --env and --secret, list --refresh, status, doctor, env, migrations with DNS,
 * destroy) runs against the sandbox through recording proxies, and every request/response pair
 * is checked against ../shared/specs (patched only for the specs' own known defects, listed in
 * specs/*.ts). Any violation, or any route the spec does not have, fails. The same recordings give
 * the cloud-init user-data automna sent to each VM provider, which cloud-init's schema must accept.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load as loadYaml } from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { migrateWorld, type MigrateWorld } from "../migrate/world.js";
import { allSpecs, type ApiSpec } from "./api-spec.js";
import { loadSpec } from "./openapi-doc.js";
import { OpenApiValidator } from "./openapi-validator.js";
import { startRecorder, type Recorder } from "./recorder.js";

const API_KEY = "sk-conformance-0123456789";
/** Values a shell, YAML and an env file would each mangle if automna quoted them wrong. */
const ENV = ["GREETING=hello world", `QUOTED=it's "quoted" $HOME \\ # not a comment: {x} - [y]`];

const specs = await allSpecs();
let w: MigrateWorld;
const recorders = new Map<ApiSpec, Recorder>();
const users = new Map<string, string>();

async function cli(args: string[]): Promise<string> {
  const res = await runCli(args, { env: { ...w.env, API_KEY } });
  if (res.code !== 0) throw new Error(`automna ${args.join(" ")} exited ${res.code}: ${res.stderr}`);
  return res.stdout;
}

beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.93", writeEveryMs: 500, seedBytes: 64 * 1024 });
  for (const spec of specs) {
    const target = w.env[spec.urlEnv];
    if (!target) throw new Error(`${spec.name}: the sandbox sets no ${spec.urlEnv}`);
    const recorder = await startRecorder(target);
    recorders.set(spec, recorder);
    w.env[spec.urlEnv] = recorder.url;
  }
  for (const spec of specs) {
    if (!spec.provider) continue;
    const user = `conf-${spec.provider.id.slice(0, 3)}`;
    users.set(spec.provider.id, user);
    await cli(["provision", user, "--provider", spec.provider.id, "--region", spec.provider.region, "--size", spec.provider.size, ...ENV.flatMap((e) => ["--env", e]), "--secret", "API_KEY", "--json"]);
  }
  await w.sb.settled();
  await cli(["list", "--refresh", "--json"]);
  for (const user of users.values()) await cli(["status", user, "--json"]);
  await cli(["doctor", "--json"]);
  for (const user of users.values()) {
    await cli(["env", "list", user, "--json"]);
    await cli(["env", "set", user, "--env", "ROTATED=1", "--yes", "--json"]);
  }
  // Sources kept 0 s, so gc (which destroys retired sources past their grace) has work to do.
  await cli(["migrate", users.get("fly")!, "--from", "fly", "--to", "hetzner", "--keep-source", "0s", "--yes", "--json"]);
  await cli(["migrate", users.get("hetzner")!, "--from", "hetzner", "--to", "digitalocean", "--keep-source", "0s", "--yes", "--json"]);
  await cli(["gc", "--yes", "--json"]);
  await cli(["destroy", ...users.values(), "--yes", "--json"]);
  // The work: three provisions and a dozen short commands, two migrations.
}, budget(4 * QUIET_MS.test + 2 * QUIET_MS.migration));

afterAll(async () => {
  for (const r of recorders.values()) await r.close();
  await w?.cleanup();
});

describe("automna's traffic fits the providers' published specs", () => {
  it.each(specs.map((s) => [s.name, s] as const))("%s: every request and response, on routes the spec has", (_name, spec) => {
    const recorder = recorders.get(spec)!;
    expect(recorder.exchanges.length, `${spec.name} saw no traffic`).toBeGreaterThan(0);
    const validator = new OpenApiValidator(loadSpec(spec.file, spec.patches));
    const violations = recorder.exchanges.flatMap((ex) => validator.check(ex));
    const report = [...new Set(violations.map((v) => `${v.kind}: ${v.exchange.replace(/\?.*/, "")}: ${v.message}`))];
    expect(report, `${spec.name}: ${violations.length} violations in ${recorder.exchanges.length} exchanges`).toEqual([]);
  });

  it("the user-data sent to each VM provider passes cloud-init's own schema and pins one host key", () => {
    const found = spawnSync("cloud-init", ["--version"], { encoding: "utf8" });
    if (found.error) throw new Error("cloud-init is not installed: .ci/run installs Debian's cloud-init package (apt-get install cloud-init)");
    const sent = [...recorders.values()].flatMap((r) => r.exchanges)
      .filter((ex) => ex.method === "POST" && /\/(servers|droplets)$/.test(ex.path))
      .map((ex) => ({ path: ex.path, userData: (JSON.parse(ex.requestBody.toString("utf8")) as { user_data?: string }).user_data }));
    expect(new Set(sent.map((s) => s.path.replace(/.*\//, ""))), "a create on each VM provider").toEqual(new Set(["servers", "droplets"]));
    const dir = mkdtempSync(join(tmpdir(), "automna-cloud-init-"));
    try {
      for (const [i, s] of sent.entries()) {
        expect(s.userData, s.path).toBeTypeOf("string");
        expect(s.userData).toContain("ssh_genkeytypes: [ed25519]");
        expect(s.userData).toContain("  ed25519_private: ");
        const file = join(dir, `user-data-${i}.yaml`);
        writeFileSync(file, s.userData!);
        const out = spawnSync("cloud-init", ["schema", "-c", file], { encoding: "utf8" });
        expect(`${out.status} ${out.stdout}${out.stderr}`.trim(), s.path).toBe(`0 Valid cloud-config: ${file}`);
      }
      // The values went into the env file exactly: YAML decodes them back to the --env values.
      // The first create on each provider is a provision with --env (a migration's target gets its env over SSH).
      for (const s of sent.filter((x, i) => sent.findIndex((y) => y.path === x.path) === i)) {
        const content = (loadYaml(s.userData!) as { write_files: { content: string }[] }).write_files[0]!.content;
        expect(content.split("\n").filter(Boolean), s.path).toEqual(expect.arrayContaining(ENV));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
