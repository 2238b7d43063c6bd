import { availableParallelism } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { automna } from "../helpers/bin.js";
import { budget, QUIET_MS, TEST_CONCURRENCY } from "../helpers/budget.js";
import { migrationOf, ownHome, provision, type MigrateWorld, type ProviderName } from "./world.js";

/** A user's migration SIGKILLed at one point after another (AUTOMNA_CRASH_AT). */
export interface KillChain {
  user: string;
  route: { from: ProviderName; to: ProviderName };
  /** In order: `migrate` is killed at the first, then a `migrate resume` at each next one. */
  points: string[];
}

/** How a chain's last resume is checked: a test of that name. */
export interface ChainFinish {
  name: string;
  check(w: MigrateWorld, op: string): Promise<void>;
}

/**
 * Declares `chains` side by side (a `describe.concurrent` titled `title`), each as below. They
 * share this machine's cores, so each run of the binary gets its budget times that share.
 */
export function declareKillChains(title: string, world: () => MigrateWorld, chains: KillChain[], finish: (chain: KillChain) => ChainFinish): void {
  const crowd = Math.max(1, Math.min(TEST_CONCURRENCY, chains.length) / availableParallelism());
  describe.concurrent(title, () => {
    for (const chain of chains) declareKillChain(world, chain, QUIET_MS.migration * crowd, finish(chain));
  });
}

/**
 * Declares a kill chain as tests that run one after another, one per point, so that a failure
 * names its point: the user is provisioned (in a home of its own) and `automna migrate` (the built
 * binary) is killed at the first point, `migrate resume` at each next one, then a last resume
 * must finish the migration from state alone, and `finish.check` says whether it did so right.
 * Every point but the first is reached by a resume that starts from the point before it. Chains
 * declared side by side run in parallel. Once a test of a chain
 * fails, the rest of the chain is skipped rather than failed for the same reason again.
 *
 * `quietMs` is the budget of one run of the binary (a migration's worth of work at most).
 */
function declareKillChain(world: () => MigrateWorld, chain: KillChain, quietMs: number, finish: ChainFinish): void {
  const [first, ...then] = chain.points;
  describe(`${chain.user}: ${chain.route.from} -> ${chain.route.to}, killed at ${chain.points.length} points`, () => {
    let w: MigrateWorld | undefined;
    let op = "";
    let broken = false;
    afterAll(async () => {
      await w?.cleanup();
    });
    // Not concurrent within the chain, whatever the enclosing describe says: each test goes on from the last.
    const inTurn = (name: string, extraMs: number, body: () => Promise<void>) =>
      it(name, { concurrent: false, timeout: budget(QUIET_MS.test + quietMs + extraMs) }, async (ctx) => {
        if (broken) return ctx.skip("an earlier point of this chain failed");
        try {
          await body();
        } catch (error) {
          broken = true;
          throw error;
        }
      });
    inTurn(`migrate killed at ${first}`, QUIET_MS.test, async () => {
      w = ownHome(world());
      await provision(w, chain.route.from, [chain.user]);
      const killed = await automna(["migrate", chain.user, "--from", chain.route.from, "--to", chain.route.to, "--yes", "--json"], { ...w.env, AUTOMNA_CRASH_AT: first! }, { quietMs });
      expect(killed.signal, `migrate killed at ${first}: ${killed.stderr}`).toBe("SIGKILL");
      op = await migrationOf(w, chain.user);
    });
    for (const point of then) {
      inTurn(`resume killed at ${point}`, 0, async () => {
        const again = await automna(["migrate", "resume", op, "--json", "--yes"], { ...w!.env, AUTOMNA_CRASH_AT: point }, { quietMs });
        expect(again.signal, `resume killed at ${point}: ${again.stderr}`).toBe("SIGKILL");
      });
    }
    inTurn(finish.name, QUIET_MS.test, async () => {
      const done = await automna(["migrate", "resume", op, "--json", "--yes"], w!.env, { quietMs });
      expect(done.exitCode, done.stderr).toBe(0);
      expect(JSON.parse(done.stdout).results[0].result).toBe("migrated");
      await finish.check(w!, op);
    });
  });
}
