import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { makeHome, type Sandbox } from "../helpers/cli.js";

// These run the built binary (npm test builds first), as a user or a script would.
const BIN = new URL("../../dist/bin/automna.js", import.meta.url).pathname;
const HELP_PAGES = new URL("../../dist/help/", import.meta.url).pathname;
const RECORDER = new URL("../helpers/record-modules.mjs", import.meta.url).href;
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
    for (const [args, env] of [[["config", "set", "region", "fsn1"], {}], [["config", "set", "region", "nbg1"], { NO_COLOR: "1", FORCE_COLOR: "1" }], [["--no-color", "config", "set", "region", "hel1"], { FORCE_COLOR: "1" }]] as const) {
      const r = await automna([...args], env);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).not.toContain("\u001b[");
      expect(r.stderr).toContain("region set in profile default");
    }
    const forced = await automna(["config", "set", "region", "ams"], { FORCE_COLOR: "1" });
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

describe("the pre-rendered help pages", () => {
  it("are exactly what the live program prints, one for every command and subcommand", async () => {
    home = makeHome();
    const { runCli } = await import("../helpers/cli.js");
    const { buildProgram } = await import("../../src/cli.js");
    const { loadCommand } = await import("../../src/commands/index.js");
    const { createContext } = await import("../../src/context.js");
    const paths: string[][] = [];
    const walk = (cmd: Command, path: string[]): void => {
      paths.push(path);
      for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
    };
    const ctx = createContext({ streams: { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }, env: {} });
    const program = buildProgram(ctx);
    for (const command of program.commands) await loadCommand(command, ctx);
    walk(program, []);
    expect(readdirSync(HELP_PAGES).filter((f) => f.endsWith(".txt")).sort()).toEqual(paths.map((p) => `${["automna", ...p].join(" ")}.txt`).sort());
    for (const path of paths) {
      const live = await runCli([...path, "--help"], { env: {} });
      expect(readFileSync(join(HELP_PAGES, `${["automna", ...path].join(" ")}.txt`), "utf8"), path.join(" ")).toBe(live.stdout);
    }
    for (const args of [["--help"], ["-h"], ["config", "list", "--help"], ["help", "config", "list"], ["help"], ["help", "--help"]]) {
      const cached = await execa(process.execPath, [BIN, ...args], { env: home.env, extendEnv: false, stripFinalNewline: false });
      const live = await runCli(args, { env: {} });
      expect(cached.stdout, args.join(" ")).toBe(live.stdout);
    }
  });

  it("leave anything else to the live program: global flags, unknown commands", async () => {
    home = makeHome();
    const flagged = await automna(["--no-color", "destroy", "--help"]);
    expect(flagged.exitCode).toBe(0);
    expect(flagged.stdout).toContain("Usage: automna destroy [options] [users...]");
    const unknown = await automna(["help", "nope"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("Error: unknown command 'nope'");
  });
});

describe("start-up", () => {
  /** The modules (paths inside the package) a run of the binary loads. */
  async function loadedBy(args: string[]): Promise<string[]> {
    const record = join(home.dir, "modules.txt");
    const r = await execa(process.execPath, ["--import", RECORDER, BIN, ...args], { env: { ...home.env, AUTOMNA_RECORD_MODULES: record }, extendEnv: false, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const root = new URL("../../", import.meta.url).href;
    return readFileSync(record, "utf8").split("\n").filter((u) => u.startsWith(root)).map((u) => u.slice(root.length));
  }
  /** The commands whose modules loaded: `config` for commands/config.js, `migrate` for commands/migrate/*; `index` is the manifest. */
  const commandModules = (files: string[]): string[] => [...new Set(files.filter((f) => f.startsWith("dist/src/commands/")).map((f) => f.split("/")[3]!.replace(/\.js$/, "")))].sort();

  it("loads only the command it runs", async () => {
    home = makeHome();
    for (const args of [["config", "path"], ["--no-color", "config", "--help"], ["--profile", "default", "config", "list", "--help"]]) {
      const files = await loadedBy(args);
      expect(commandModules(files), args.join(" ")).toEqual(["config", "index"]);
      // conf (and the JSON-schema validator it loads) only when a command writes the configuration: reading it is a JSON.parse.
      expect(files.some((f) => f.startsWith("node_modules/conf/")), args.join(" ")).toBe(false);
    }
    expect((await loadedBy(["config", "set", "region", "fsn1"])).some((f) => f.startsWith("node_modules/conf/"))).toBe(true);
    expect(commandModules(await loadedBy(["help", "--no-color", "migrate", "status"]))).toEqual(["help", "index", "migrate"]);
  });

  it("answers --version and help pages without loading the program", async () => {
    home = makeHome();
    expect(await loadedBy(["--version"])).toEqual(["dist/bin/automna.js", "dist/src/version.js"]);
    expect(await loadedBy(["--help"])).toEqual(["dist/bin/automna.js"]);
    expect(await loadedBy(["config", "--help"])).toEqual(["dist/bin/automna.js"]);
    expect(await loadedBy(["help", "state", "token", "create"])).toEqual(["dist/bin/automna.js"]);
    expect(await loadedBy(["help", "--help"])).toEqual(["dist/bin/automna.js"]);
  });
});

describe("the configuration store", () => {
  it("leaves the process's signals to automna once loaded (conf's when-exit hook re-raised them)", async () => {
    home = makeHome();
    const config = new URL("../../dist/src/lib/config.js", import.meta.url).href;
    const script = `const { Config } = await import(${JSON.stringify(config)}); const before = process.eventNames().filter((e) => String(e).startsWith("SIG")); const c = await Config.open({ env: process.env }); c.set("region", "fsn1"); console.log(JSON.stringify({ before, after: process.eventNames().filter((e) => String(e).startsWith("SIG")) }));`;
    const r = await execa(process.execPath, ["--input-type=module", "-e", script], { env: home.env, extendEnv: false });
    expect(JSON.parse(r.stdout)).toEqual({ before: [], after: [] });
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
