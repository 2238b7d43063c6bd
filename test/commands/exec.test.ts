import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessWorld, provision, type AccessWorld } from "../access/helpers.js";
import { budget, budgetSetting } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";

let w: AccessWorld;
const users = Array.from({ length: 20 }, (_, i) => `u${String(i + 1).padStart(2, "0")}`);
beforeAll(async () => {
  w = await accessWorld();
  await provision(w, "hetzner", users.slice(0, 12));
  await provision(w, "digitalocean", users.slice(12));
});
afterAll(async () => {
  await w?.cleanup();
});

// Fails on u07 only; every other machine prints its hostname.
const COMMAND = ["h=$(hostname);", '[ "$h" != automna-u07 ] || { echo "no luck" >&2; exit 5; };', 'echo "ok $h"'];

interface Result { user: string; provider: string; exitCode: number | null; stdout: string; stderr: string; error: unknown }

describe("automna exec across 20 users", () => {
  it("--json: one result per user in order; exit 3 because one command failed", async () => {
    const r = await runCli(["--json", "exec", ...users, "--concurrency", "8", "--", ...COMMAND], { env: w.env });
    expect(r.code).toBe(3);
    const results = r.json<Result[]>();
    expect(results.map((x) => x.user)).toEqual(users);
    for (const x of results) {
      if (x.user === "u07") expect(x).toEqual({ user: "u07", provider: "hetzner", exitCode: 5, signal: null, stdout: "", stderr: "no luck\n", error: null });
      else expect(x).toMatchObject({ exitCode: 0, stdout: `ok automna-${x.user}\n`, stderr: "", error: null, provider: x.user > "u12" ? "digitalocean" : "hetzner" });
    }
    expect(r.stderr).toContain("20 users: 19 ok, 1 failed (u07)");
  });

  it("human output: every line prefixed by its user, remote stderr on stderr, the failure named", async () => {
    const r = await runCli(["exec", ...users, "--", ...COMMAND], { env: w.env });
    expect(r.code).toBe(3);
    const lines = r.stdout.trimEnd().split("\n").sort();
    expect(lines).toEqual(users.filter((u) => u !== "u07").map((u) => `${u} | ok automna-${u}`));
    expect(r.stderr).toContain("u07 | no luck\n");
    expect(r.stderr).toContain("✗ u07: exit 5\n");
    const fine = await runCli(["exec", "u01", "u13", "--", "exit 0"], { env: w.env });
    expect(fine.code).toBe(0);
    expect(fine.stdout).toBe("");
  });

  it("bad input is exit 2 before anything runs", async () => {
    const unknown = await runCli(["exec", "u01", "ghost", "phantom", "--", "touch /tmp/x"], { env: w.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Error: ghost, phantom have no instance");
    const noCommand = await runCli(["exec", "u01", "u02"], { env: w.env });
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toContain("Error: no command given");
    const conc = await runCli(["exec", "u01", "--concurrency", "0", "--", "true"], { env: w.env });
    expect(conc.code).toBe(2);
    expect(conc.stderr).toContain("--concurrency must be a whole number from 1 to 1000");
    const twice = await runCli(["exec", "u01", "u01", "--", "true"], { env: w.env });
    expect(twice.code).toBe(2);
  });

  it("--timeout stops a hung command and reports it as that user's failure", async () => {
    // Long enough for u02's quick command over a fresh ssh connection on a busy machine; u01's hangs far longer.
    const hang = Math.ceil(budget(20_000) / 1000);
    const r = await runCli(["--json", "exec", "u01", "u02", "--timeout", budgetSetting(2000), "--", `if [ "$(hostname)" = automna-u01 ]; then sleep ${hang}; fi; echo done`], { env: w.env });
    expect(r.code).toBe(3);
    const [a, b] = r.json<Result[]>();
    expect(a).toMatchObject({ user: "u01", exitCode: null, error: { code: "timeout" } });
    expect(b).toMatchObject({ user: "u02", exitCode: 0, stdout: "done\n" });
  });
});
