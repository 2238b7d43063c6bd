import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { makeHome, type Sandbox } from "../helpers/cli.js";

// These run the built binary (npm test builds first), as a user or a script would.
const BIN = new URL("../../dist/bin/automna.js", import.meta.url).pathname;
let home: Sandbox;
afterEach(() => home?.cleanup());

function automna(args: string[], env: Record<string, string> = {}) {
  return execa(process.execPath, [BIN, ...args], { env: { ...home.env, ...env }, extendEnv: false, reject: false, stdin: "ignore" });
}

describe("the automna binary", () => {
  it("prints its version and help", async () => {
    home = makeHome();
    const version = await automna(["--version"]);
    expect(version).toMatchObject({ exitCode: 0, stderr: "" });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+$/);
    const help = await automna(["--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("Usage: automna [options] [command]");
    expect(help.stdout).toContain("Global flags:");
  });

  it("prints exactly one JSON error document on stdout under --json", async () => {
    home = makeHome();
    const r = await automna(["--json", "nope"]);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: "usage", message: "unknown command 'nope'", hint: 'run "automna --help" for the list of commands' } });
    expect(r.stderr).toContain("Error: unknown command 'nope'");
  });

  it("writes no colour codes when piped, with NO_COLOR, or with --no-color", async () => {
    home = makeHome();
    for (const [args, env] of [[["config", "set", "region", "x"], {}], [["config", "set", "region", "y"], { NO_COLOR: "1", FORCE_COLOR: "1" }], [["--no-color", "config", "set", "region", "z"], { FORCE_COLOR: "1" }]] as const) {
      const r = await automna([...args], env);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).not.toContain("\u001b[");
      expect(r.stderr).toContain("region set in profile default");
    }
    const forced = await automna(["config", "set", "region", "w"], { FORCE_COLOR: "1" });
    expect(forced.stderr).toContain("\u001b[32m");
  });

  it("refuses to run on Node older than 22, in one line that says how to get a newer one", async () => {
    home = makeHome();
    const preload = join(home.dir, "old-node.mjs");
    writeFileSync(preload, 'Object.defineProperty(process, "versions", { value: { ...process.versions, node: "20.19.0" } });\nObject.defineProperty(process, "version", { value: "v20.19.0" });\n');
    const r = await execa(process.execPath, ["--import", preload, BIN, "--help"], { reject: false, env: home.env, extendEnv: false });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("automna needs Node.js 22.22+ or 24.15+; this is v20.19.0: install Node.js 24 (https://nodejs.org/en/download, or `nvm install 24`)");
  });
});

describe("the pre-rendered help page", () => {
  it("is exactly what the live program prints", async () => {
    home = makeHome();
    const { runCli } = await import("../helpers/cli.js");
    const live = await runCli(["--help"], { env: {} });
    const cached = await execa(process.execPath, [BIN, "--help"], { env: home.env, extendEnv: false, stripFinalNewline: false });
    expect(cached.stdout).toBe(live.stdout);
    const short = await execa(process.execPath, [BIN, "-h"], { env: home.env, extendEnv: false, stripFinalNewline: false });
    expect(short.stdout).toBe(live.stdout);
  });
});

describe("a reader that stops early", () => {
  it("ends the command as a closed pipe (exit 141, as a shell reports SIGPIPE; no stack trace), like `automna list | head -1`", async () => {
    home = makeHome();
    // Enough rows that the output overflows the pipe after head has gone.
    const { SqliteStore } = await import("../../src/state/sqlite-store.js");
    const { instance } = await import("../state/contract.js");
    const store = await SqliteStore.open(home.statePath);
    for (let i = 0; i < 3000; i++) await store.createInstance(instance(`user-${i}`));
    await store.close();
    const r = await execa("bash", ["-o", "pipefail", "-c", `"${process.execPath}" "${BIN}" list | head -1`], { env: home.env, extendEnv: false, reject: false });
    expect(r.exitCode).toBe(141);
    expect(r.stdout.split("\n")).toHaveLength(1);
    expect(r.stderr).not.toContain("EPIPE");
    expect(r.stderr).not.toContain("    at ");
  });
});
