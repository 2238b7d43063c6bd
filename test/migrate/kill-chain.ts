import { afterAll, describe, expect, it } from "vitest";
import { automna } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { migrationOf, ownHome, provision, type MigrateWorld, type ProviderName } from "./world.js";

/** A user's migration SIGKILLed at one point after another (AUTOMNA_CRASH_AT). */
export interface KillChain {
  user: string;
  route: { from: ProviderName; to: ProviderName };
  /** In order: `migrate` is killed at the first, then a `migrate resume` at each next one. */
  points: string[];
}

/**
 * Declares a kill chain as tests that run one after another, one per point, so that a failure
 * names its point: the user is provisioned (in a home of its own) and `automna migrate` (the built
 * binary) is killed at the first point, `migrate resume` at each next one, then a last resume
 * must finish the migration from state alone, and `finish.check` says whether it did so right.
 * Every point but the first is reached by a resume that starts from the point before it. Chains
 * declared side by side inside a `describe.concurrent` run in parallel. Once a test of a chain
 * fails, the rest of the chain is skipped rather than failed for the same reason again.
 *
 * `quietMs` is the budget of one run of the binary (a migration's worth of work at most).
 */
export function declareKillChain(world: () => MigrateWorld, chain: KillChain, quietMs: number, finish: { name: string; check(w: MigrateWorld, op: string): Promise<void> }): void {
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
