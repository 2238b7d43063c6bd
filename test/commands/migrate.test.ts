import { afterAll, describe, expect, it } from "vitest";
import { makeHome, runCli } from "../helpers/cli.js";

const home = makeHome();
afterAll(() => home.cleanup());
const env = { ...home.env, HCLOUD_TOKEN: "hcloud-test-token", FLY_API_TOKEN: "fly-test-token" };

describe("migrate: input and state checks (no provider is called)", () => {
  it("rejects missing or contradictory flags with exit 2", async () => {
    const noTo = await runCli(["migrate", "alice", "--from", "fly"], { env });
    expect([noTo.code, noTo.stderr.split("\n")[0]]).toEqual([2, "Error: --from and --to are required"]);
    const both = await runCli(["migrate", "alice", "--all", "--from", "fly", "--to", "hetzner"], { env });
    expect([both.code, both.stderr.split("\n")[0]]).toEqual([2, "Error: give users or --all, not both"]);
    const none = await runCli(["migrate", "--from", "fly", "--to", "hetzner"], { env });
    expect([none.code, none.stderr.split("\n")[0]]).toEqual([2, "Error: name the users to migrate, select them with -l, or pass --all"]);
    const same = await runCli(["migrate", "alice", "--from", "do", "--to", "digitalocean"], { env });
    expect([same.code, same.stderr.split("\n")[0]]).toEqual([2, "Error: --from and --to are both digitalocean"]);
    const badUser = await runCli(["migrate", "Alice", "--from", "fly", "--to", "hetzner"], { env });
    expect(badUser.code).toBe(2);
    const keep = await runCli(["migrate", "alice", "--from", "fly", "--to", "hetzner", "--keep-source", "3 days"], { env });
    expect([keep.code, keep.stderr.split("\n")[0]]).toEqual([2, 'Error: --keep-source must be a duration like 90s, 10m, 2h or 3d, got "3 days"']);
    const format = await runCli(["migrate", "alice", "--from", "fly", "--to", "hetzner", "-o", "csv"], { env });
    expect([format.code, format.stderr.split("\n")[0]]).toEqual([2, 'Error: unknown output format "csv"']);
  });

  it("a user with no live instance is bad input; --all with nobody on the provider is too", async () => {
    const ghost = await runCli(["migrate", "ghost", "--from", "fly", "--to", "hetzner", "--json"], { env });
    expect(ghost.code).toBe(2);
    expect(ghost.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: "usage", message: "ghost has no live instance" });
    const all = await runCli(["migrate", "--all", "--from", "fly", "--to", "hetzner"], { env });
    expect([all.code, all.stderr.split("\n")[0]]).toEqual([2, "Error: no live users on fly"]);
  });

  it("status, resume and rollback name what is wrong; gc with nothing retired collects nothing", async () => {
    expect((await runCli(["migrate", "status", "--json"], { env })).json()).toEqual([]);
    const notOp = await runCli(["migrate", "resume", "alice"], { env });
    expect([notOp.code, notOp.stderr.split("\n")[0]]).toEqual([2, 'Error: "alice" is not an operation id (op_...)']);
    const unknown = await runCli(["migrate", "rollback", "op_0000nothere"], { env });
    expect([unknown.code, unknown.stderr.split("\n")[0]]).toEqual([2, "Error: no migration op_0000nothere"]);
    const gc = await runCli(["gc", "--dry-run"], { env });
    expect(gc.code).toBe(0);
    expect(gc.stderr).toContain("nothing to collect");
  });

  it("resume and rollback ask first: off a terminal they need --yes, a \"no\" changes nothing", async () => {
    const { SqliteStore } = await import("../../src/state/sqlite-store.js");
    const store = await SqliteStore.open(home.statePath);
    const op = await store.createOperation({ kind: "migrate", user: "alice", params: { from: "fly", to: "hetzner" }, status: "running", step: "warm-upload" });
    await store.close();
    for (const verb of ["resume", "rollback"]) {
      const refused = await runCli(["migrate", verb, op.id], { env });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(new RegExp(`^Error: ${verb === "resume" ? "Resume" : "Roll back"} migration ${op.id} of alice from fly to hetzner.*: no answer, and prompts are off \\(not a terminal, --no-input or CI\\)\nHint: pass --yes\n$`));
      const declined = await runCli(["migrate", verb, op.id], { env: { ...env, NO_COLOR: "1" }, tty: true, answers: { [`migration ${op.id}`]: false } });
      expect(declined.code).toBe(130);
      expect(declined.stderr).toContain(`Error: migrate ${verb} cancelled; nothing was changed`);
    }
    const after = await SqliteStore.open(home.statePath);
    expect(await after.getOperation(op.id)).toMatchObject({ status: "running", step: "warm-upload", version: op.version });
    expect(await after.listLeases()).toEqual([]);
    await after.close();
  });

  it("help lists the Migration commands", async () => {
    const help = await runCli(["--help"], { env });
    const group = help.stdout.slice(help.stdout.indexOf("Migration:"), help.stdout.indexOf("Cost:"));
    expect([...group.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1])).toEqual(["migrate", "failover", "gc", "backup", "restore"]);
    const sub = await runCli(["migrate", "--help"], { env });
    expect(sub.stdout).toContain("--keep-source <duration>");
    expect(sub.stdout).toMatch(/Commands:\n\s+status \[options\] \[op-id\]/);
  });
});
