import { defineConfig } from "vitest/config";
import { LongestFirst } from "./test/helpers/longest-first.js";
import { budget, QUIET_MS, SLOWDOWN, SLOWDOWN_VAR, TEST_CONCURRENCY } from "./test/helpers/budget.js";

/**
 * Two projects: `npm run test:fast` (unit and command tests, about a minute) and `npm run
 * test:slow` (everything below); `npm test` runs both side by side. A new test file is fast
 * unless it matches one of these: put it under test/e2e/ or name it `*.slow.test.ts` when it
 * starts the built binary or many processes, runs simulated hosts for long, or migrates users.
 */
const SLOW = [
  "test/e2e/**/*.test.ts", // the built binary, end to end
  "test/migrate/**/*.test.ts", // migrations between simulated hosts over real ssh, crash points, bulk
  "test/state/server/**/*.test.ts", // state server processes
  "test/**/*.slow.test.ts",
  "test/**/*{crash,bulk,fault,faults}*.test.ts",
  // Simulated hosts over real ssh; an object of hundreds of MB; an hour's rate budget spent.
  "test/sandbox/{host-*,sim-hosts,s3,hetzner}.test.ts",
  "test/state/{http-store,pg-store}.test.ts", // state server and PostgreSQL processes
  "test/conformance/{clients,spec-conformance}.test.ts", // official clients' processes; a fleet's whole life
  // ssh into simulated hosts; the binary as a daemon; fleets of 50 users.
  "test/commands/{provision-secrets,exec,logs,env,ssh,sandbox,fleet-sandbox}.test.ts",
];

/**
 * Timeouts scale with the work and with the machine's load, never a fixed wall-clock guess
 * (test/helpers/budget.ts):
 * - SLOWDOWN, read once here when the run starts: AUTOMNA_TEST_SLOWDOWN if set (CI on a shared
 *   runner can raise it), else the load per core (the larger of the 1- and 5-minute load averages
 *   over the cores), at least 1. It is handed to the workers in the environment, so every file of
 *   the run uses the same factor.
 * - A budget is the quiet-machine cost of the work (QUIET_MS: a test, a run of the binary, a
 *   migration, a poll, each with headroom) times the amount of it (users, crash points, runs)
 *   times SLOWDOWN. testTimeout and hookTimeout below are the budget of an ordinary test; tests
 *   with more work pass their own budget(...) as the timeout, and the polling helper (until) and
 *   the binary's runs (automna) take one too.
 * - Where a process has a bounded operation of its own (a CLI run with its HTTP and health
 *   timeouts), the test waits for it to exit; settings handed to automna that bound its waits
 *   (health checks, lease lifetimes) get budgets as well, so a busy machine does not make a
 *   healthy target look dead.
 * A budget only decides when a test is called hung: no test asserts how long anything took.
 */
process.env[SLOWDOWN_VAR] = String(SLOWDOWN);

export default defineConfig({
  test: {
    testTimeout: budget(QUIET_MS.test),
    hookTimeout: budget(QUIET_MS.test),
    pool: "forks",
    // The tests mostly wait on sockets, ssh and child processes: more files than cores at once.
    maxWorkers: 4,
    reporters: ["default"],
    // Longest files first across both projects, so the long migration files do not end the run alone.
    sequence: { sequencer: LongestFirst },
    env: { [SLOWDOWN_VAR]: String(SLOWDOWN) },
    projects: [
      // Files share their workers (no fresh process and module graph per file): that start-up was
      // a third of the fast project's CPU, and 5-13 s of 117 s for 16 slow files (side by side). A
      // file leaves nothing behind (homes, servers, hosts and environment changes are its own and
      // undone in its hooks), which is what sharing needs.
      { extends: true, test: { name: "fast", include: ["test/**/*.test.ts"], exclude: SLOW, isolate: false } },
      // Crash points and the like run side by side within their file (describe.concurrent).
      { extends: true, test: { name: "slow", include: SLOW, maxConcurrency: TEST_CONCURRENCY, isolate: false } },
    ],
  },
});
