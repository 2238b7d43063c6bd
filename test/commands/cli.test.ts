import { afterEach, describe, expect, it } from "vitest";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

let home: Sandbox;
afterEach(() => home?.cleanup());

describe("the command framework", () => {
  it("suggests the closest command for a typo and exits 2", async () => {
    home = makeHome();
    const r = await runCli(["confg", "list"], { env: home.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("Error: unknown command 'confg' (did you mean config?)\nHint: run \"automna --help\" for the list of commands\n");
    expect(r.stdout).toBe("");
  });

  it("rejects an unknown flag with a suggestion, as JSON under --json", async () => {
    home = makeHome();
    const r = await runCli(["--json", "config", "list", "--colums", "key"], { env: home.env });
    expect(r.code).toBe(2);
    expect(r.json()).toEqual({ error: { code: "usage", message: "unknown option '--colums' (did you mean --columns?)", hint: "run the command with --help for its flags" } });
  });

  it("treats a group without its subcommand as a usage error and shows its help", async () => {
    home = makeHome();
    const r = await runCli(["config"], { env: home.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Usage: automna config [options] [command]");
  });

  it("prints help with groups and one example per command", async () => {
    const r = await runCli(["--help"], { env: {} });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Setup:\n\s+init/);
    expect(r.stdout).toContain("$ automna config set region fsn1");
    expect(r.stdout).toContain("Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 partial, 4 locked or conflict, 124 timed out (ssh --timeout), 130 cancelled, 141 output closed.");
  });

  it("exits 130 when cancelled", async () => {
    home = makeHome();
    const controller = new AbortController();
    controller.abort();
    const r = await runCli(["config", "list"], { env: home.env, signal: controller.signal });
    expect(r.code).toBe(130);
    expect(r.stderr).toBe("Error: cancelled\n");
  });

  it("reports an unexpected error as a bug, with the stack only under --debug", async () => {
    home = makeHome();
    const boom = (ctx: import("../../src/context.js").Context): void => {
      ctx.config = () => Promise.reject(new TypeError("boom"));
    };
    const plain = await runCli(["config", "list"], { env: home.env, setup: boom });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toBe("Error: internal error: boom\nHint: this is a bug in automna; run again with --debug and report the output\n");
    const debug = await runCli(["--debug", "config", "list"], { env: home.env, setup: boom });
    expect(debug.stderr).toContain("TypeError: boom\n    at ");
  });
});
