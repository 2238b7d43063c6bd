/**
 * A migration carries the agent's environment: its `--env` values and secrets, read from the source
 * (a VM's env file over SSH, a Fly machine's env and app secrets through the API) and written to
 * the target, so the agent comes up on the new machine with its API keys. The values appear in no
 * output, journal or state file; only their names are recorded.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { hostDir, instances, migrateWorld, PLACES, type MigrateWorld } from "./world.js";

const API_KEY = "sk-carried-0123456789abcdef";
const USER = "env-1";

let w: MigrateWorld;
// Short, so the shared SSH connections' sockets go here (and can be seen).
const runtime = mkdtempSync("/tmp/am-");
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.85" });
  w.env.XDG_RUNTIME_DIR = runtime;
});
afterAll(async () => {
  await w?.cleanup();
  rmSync(runtime, { recursive: true, force: true });
});

async function flySecrets(app: string): Promise<Record<string, string>> {
  const res = await fetch(`${w.env.AUTOMNA_FLY_URL}/v1/apps/${app}/secrets?show_secrets=true`, { headers: { authorization: `Bearer ${w.env.FLY_API_TOKEN}` } });
  const body = (await res.json()) as { secrets: { name: string; value: string }[] };
  return Object.fromEntries(body.secrets.map((s) => [s.name, s.value]));
}

async function live(): Promise<{ provider: string; resources: Record<string, string> }> {
  return (await instances(w, USER)).find((r) => r.role === "live")!;
}

function expectNoValue(...texts: string[]): void {
  for (const t of texts) expect(t.includes(API_KEY)).toBe(false);
}

describe("migrate carries the agent's environment", () => {
  it("hetzner -> fly -> digitalocean: variables and secrets reach each new machine, and only there", async () => {
    const [region, size] = PLACES.hetzner;
    const made = await runCli(["provision", USER, "--provider", "hetzner", "--region", region, "--size", size, "--env", "PLAIN=visible", "--secret", "API_KEY"], { env: { ...w.env, API_KEY } });
    expect(made.code, made.stderr).toBe(0);
    await w.sb.settled();

    const toFly = await runCli(["migrate", USER, "--from", "hetzner", "--to", "fly", "--yes", "-o", "ndjson", "--debug"], { env: w.env });
    expect(toFly.code, toFly.stderr).toBe(0);
    expect(await flySecrets(`automna-${USER}`)).toEqual({ PLAIN: "visible", API_KEY });
    expectNoValue(toFly.stdout, toFly.stderr);

    const toDo = await runCli(["migrate", USER, "--from", "fly", "--to", "digitalocean", "--yes", "--json"], { env: w.env });
    expect(toDo.code, toDo.stderr).toBe(0);
    const target = await live();
    expect(target.provider).toBe("digitalocean");
    // The target VM's commands shared one SSH connection, whose master stays a minute after use
    // (the retired source's went with its power-off).
    expect(readdirSync(join(runtime, "automna"), { withFileTypes: true }).filter((e) => e.isSocket())).toHaveLength(1);
    const file = join(hostDir(w, target), ".host", "agent.env");
    expect(readFileSync(file, "utf8").split("\n").filter(Boolean).sort()).toEqual([`API_KEY=${API_KEY}`, "PLAIN=visible"]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The re-created container reads that file: its env names are on record in the host.
    const inspect = await runCli(["ssh", USER, "--", "docker inspect -f '{{json .Config.Env}}' automna-agent"], { env: w.env });
    expect(inspect.stdout).toContain("API_KEY=");

    // The journal knows the names, never the values; nor does the state database.
    const op = toDo.json<{ results: { op: string }[] }>().results[0]!.op;
    const status = await runCli(["migrate", "status", op, "--json"], { env: w.env });
    const carried = status.json<{ journal: { step: string; phase: string; data: { names?: string[] } }[] }>().journal.find((e) => e.step === "warm-restore" && e.phase === "done");
    expect(carried?.data.names).toEqual(["API_KEY", "PLAIN"]);
    const db = join(w.home.dir, "data", "automna", "state.db");
    const files = [db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f).toString("latin1"));
    expectNoValue(toDo.stdout, toDo.stderr, status.stdout, ...files);
  }, budget(2 * QUIET_MS.migration + QUIET_MS.test));
});
