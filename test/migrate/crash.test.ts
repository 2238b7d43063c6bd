import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATE_STEPS } from "../../src/migrate/types.js";
import { runCli } from "../helpers/cli.js";
import { declareKillChains, type KillChain } from "./kill-chain.js";
import { expectCarriedOver, hostDir, instances, listingDigestOf, migrateWorld, type MigrateWorld } from "./world.js";

/**
 * SIGKILL of the CLI (the built binary) at every step's every point: right after the step's intent
 * is journaled, right after its external call returned (before `done`), and right after `done`.
 * Each point is a test of its own (test/migrate/kill-chain.ts): a user's migration is killed at
 * one point, a `migrate resume` at the next, and so on, so every point is a kill point and every
 * point but a chain's first is reached by a resume that starts from the point before it, across
 * steps too. A resume re-takes the lock without re-running its step, so only a migration's own
 * run reaches the lock's three points: there are three chains, one starting at each, each going on
 * through a third of the other steps' points, side by side. Three migrations cover what took one
 * per step before. Then a last resume finishes from state alone: exactly one live target, the data
 * equal, every step done once, the lock released, and no side effect twice, checked against the
 * sandbox's records and request logs.
 */
const PHASES = ["intent", "after", "done"] as const;
const STEP_POINTS = MIGRATE_STEPS.filter((step) => step !== "lock").flatMap((step) => PHASES.map((phase) => `${step}:${phase}`));
const PER_CHAIN = Math.ceil(STEP_POINTS.length / PHASES.length);
const CHAINS: KillChain[] = PHASES.map((phase, i) => ({
  user: `lock-${phase}`,
  route: { from: "hetzner", to: "digitalocean" },
  points: [`lock:${phase}`, ...STEP_POINTS.slice(i * PER_CHAIN, (i + 1) * PER_CHAIN)],
}));

let world: MigrateWorld;
let before: { api: number; s3: number; dns: number };
beforeAll(async () => {
  world = await migrateWorld({ addressBase: "127.83", seedBytes: 512 * 1024, writeEveryMs: 200 });
  before = { api: world.sb.requests().length, s3: world.sb.s3.requests.length, dns: world.sb.cloudflare.requests.length };
});
afterAll(async () => {
  await world?.cleanup();
});

/** `automna migrate status` (in-process: the same command, without starting Node again). */
async function statusJson<T>(w: MigrateWorld, args: string[]): Promise<T> {
  const res = await runCli(["migrate", "status", ...args], { env: w.env });
  expect(res.code, res.stderr).toBe(0);
  return res.json<T>();
}

/** Powers the migrated user's droplet off, so the agents of finished points stop writing while the others run. */
async function powerOff(droplet: string): Promise<void> {
  const res = await fetch(`${world.sb.urls.digitalocean}/v2/droplets/${droplet}/actions`, {
    method: "POST", headers: { authorization: `Bearer ${world.sb.token}`, "content-type": "application/json" }, body: JSON.stringify({ type: "power_off" }),
  });
  expect(res.status).toBe(201);
}

interface Journal { status: string; journal: { step: string; phase: string; data: Record<string, unknown> }[] }

/** Migrated exactly once: one live target, the data carried over, every step done once, the lock released, no resource twice. */
async function expectMigratedOnce(w: MigrateWorld, user: string, op: string): Promise<string> {
  const rows = await instances(w, user);
  expect(rows.filter((x) => x.role === "live"), user).toHaveLength(1);
  const live = rows.find((x) => x.role === "live")!;
  const retired = rows.find((x) => x.role === "retired")!;
  expect([rows.length, live.provider, retired.provider, retired.status], user).toEqual([2, "digitalocean", "hetzner", "stopped"]);

  const { status, journal } = await statusJson<Journal>(w, [op, "--json"]);
  expect(status).toBe("succeeded");
  expect(journal.filter((e) => e.phase === "done" && e.step !== "lock").map((e) => e.step)).toEqual(MIGRATE_STEPS.filter((s) => s !== "lock"));
  expect(journal.filter((e) => e.phase === "failed" || e.phase === "undone")).toEqual([]);
  const verified = journal.find((e) => e.step === "verify" && e.phase === "done")!.data;
  expect(verified.listing).toBe(listingDigestOf(`${hostDir(w, retired)}/data`));
  expect(expectCarriedOver(`${hostDir(w, retired)}/data`, `${hostDir(w, live)}/data`)).toEqual([]);

  const locks = await runCli(["lock", "list", "--json"], { env: w.env });
  expect((locks.json<{ user: string }[]>()).filter((l) => l.user === user)).toEqual([]);
  const droplets = (await (await fetch(`${w.sb.urls.digitalocean}/v2/droplets?per_page=200`, { headers: { authorization: `Bearer ${w.sb.token}` } })).json()) as { droplets: { name: string }[] };
  expect(droplets.droplets.filter((d) => d.name === `automna-${user}`)).toHaveLength(1);
  // Two archives (warm and final), each uploaded once.
  const puts = w.sb.s3.requests.filter((q) => q.method === "PUT" && q.key?.startsWith(`migrations/${user}/${op}/`)).map((q) => q.key!);
  expect(puts).toHaveLength(2);
  expect(new Set(puts).size).toBe(2);
  expect(w.sb.cloudflare.records().filter((r) => r.name.startsWith(`${user}.`)).map((r) => [r.type, r.content])).toEqual([["A", live.addresses.ipv4]]);
  return live.resources.droplet!;
}

declareKillChains("SIGKILL at every point of every step, each resume killed at the next point (built binary)", () => world, CHAINS, (chain) => ({
  name: "a last resume finishes with one target and nothing twice",
  async check(w, op) {
    await powerOff(await expectMigratedOnce(w, chain.user, op));
  },
}));

describe("after every point", () => {
  it("no side effect happened twice: one droplet created and one DNS write per user, every archive uploaded once", () => {
    const api = world.sb.requests().slice(before.api);
    expect(api.filter((q) => q.method === "POST" && q.path === "/v2/droplets")).toHaveLength(CHAINS.length);
    const puts = world.sb.s3.requests.slice(before.s3).filter((q) => q.method === "PUT").map((q) => q.key!);
    expect(puts).toHaveLength(CHAINS.length * 2);
    expect(new Set(puts).size).toBe(puts.length);
    expect(world.sb.cloudflare.requests.slice(before.dns).filter((q) => q.method !== "GET")).toHaveLength(CHAINS.length);
  });
});
