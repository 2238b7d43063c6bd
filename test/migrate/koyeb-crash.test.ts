import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATE_STEPS } from "../../src/migrate/types.js";
import { runCli } from "../helpers/cli.js";
import { declareKillChains, type KillChain } from "./kill-chain.js";
import { expectCarriedOver, hostDir, instances, listingDigestOf, migrateWorld, type MigrateWorld, type ProviderName } from "./world.js";

/**
 * SIGKILL of the built binary at every migration step with Koyeb as the source and as the
 * target, right after the step's external call returned and before `done` was journaled (the
 * point where a resume cannot know from the journal alone whether the call happened), then
 * `automna migrate resume`: exactly one live target, equal checksums, every step done once,
 * one Koyeb service made per user and every archive uploaded once. One chain per direction
 * (test/migrate/kill-chain.ts), a test per point: the migration is killed at the first step, a
 * resume at each next one, and a last resume finishes, so each step is a kill point and each later
 * one is reached by a resume after a kill; the two directions run side by side. crash.test.ts
 * covers every phase of every step between two VM providers.
 */
const POINTS = MIGRATE_STEPS.filter((s) => s !== "lock").map((step) => `${step}:after`);
const DIRECTIONS: [string, ProviderName, ProviderName][] = [["ks", "koyeb", "hetzner"], ["kt", "hetzner", "koyeb"]];
const CHAINS: KillChain[] = DIRECTIONS.map(([tag, from, to]) => ({ user: `${tag}-chain`, route: { from, to }, points: POINTS }));

let world: MigrateWorld;
let before: { api: number; s3: number };
beforeAll(async () => {
  world = await migrateWorld({ addressBase: "127.88", seedBytes: 512 * 1024, writeEveryMs: 200 });
  before = { api: world.sb.requests().length, s3: world.sb.s3.requests.length };
});
afterAll(async () => {
  await world?.cleanup();
});

declareKillChains("SIGKILL at every step with Koyeb as source and as target, then migrate resume", () => world, CHAINS, ({ user, route: { to } }) => ({
  name: "a last resume finishes: one live target, the data equal, one Koyeb service",
  async check(w, op) {
    const rows = await instances(w, user);
    const live = rows.filter((x) => x.role === "live");
    expect(live.map((x) => x.provider)).toEqual([to]);
    const retired = rows.find((x) => x.role === "retired")!;
    const status = await runCli(["migrate", "status", op, "--json"], { env: w.env });
    const journal = status.json<{ status: string; journal: { step: string; phase: string; data: Record<string, unknown> }[] }>();
    expect(journal.status).toBe("succeeded");
    expect(journal.journal.filter((e) => e.phase === "done" && e.step !== "lock").map((e) => e.step)).toEqual(MIGRATE_STEPS.filter((s) => s !== "lock"));
    expect(journal.journal.find((e) => e.step === "verify" && e.phase === "done")!.data.listing).toBe(listingDigestOf(`${hostDir(w, retired)}/data`));
    expect(expectCarriedOver(`${hostDir(w, retired)}/data`, `${hostDir(w, live[0]!)}/data`)).toEqual([]);
    const puts = w.sb.s3.requests.filter((q) => q.method === "PUT" && q.key?.startsWith(`migrations/${user}/${op}/`)).map((q) => q.key!);
    expect(new Set(puts).size).toBe(puts.length);
    // The Koyeb side: exactly one service for the user.
    const app = (await (await fetch(`${w.sb.urls.koyeb}/v1/apps?name=automna-${user}`, { headers: { authorization: `Bearer ${w.sb.token}` } })).json()) as { apps: { id: string }[] };
    expect(app.apps).toHaveLength(1);
    const services = (await (await fetch(`${w.sb.urls.koyeb}/v1/services?app_id=${app.apps[0]!.id}`, { headers: { authorization: `Bearer ${w.sb.token}` } })).json()) as { count: number };
    expect(services.count).toBe(1);
  },
}));

describe("after every point", () => {
  it("one Koyeb service created per user that moved to Koyeb, and every archive uploaded once", () => {
    const api = world.sb.requests().slice(before.api);
    const targets = CHAINS.filter((c) => c.route.to === "koyeb").length;
    const sources = CHAINS.filter((c) => c.route.from === "koyeb").length;
    expect(api.filter((q) => q.provider === "koyeb" && q.method === "POST" && q.path === "/v1/services")).toHaveLength(targets + sources);
    const puts = world.sb.s3.requests.slice(before.s3).filter((q) => q.method === "PUT").map((q) => q.key!);
    expect(new Set(puts).size).toBe(puts.length);
  });
});
