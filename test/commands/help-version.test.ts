import { describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/commands/index.js";
import { PG_SCHEMA_VERSION } from "../../src/state/pg-schema.js";
import { SCHEMA_VERSION } from "../../src/state/schema.js";
import { VERSION } from "../../src/version.js";
import { makeHome, runCli } from "../helpers/cli.js";

/** The flags listed under "Global flags:" in a help page, e.g. ["--json", "-y, --yes"]. */
function globalFlags(page: string): string[] {
  const section = page.split("\nGlobal flags:\n")[1];
  if (section === undefined) return [];
  return section.split("\n\n")[0]!.split("\n").filter((l) => /^ {2}-/.test(l)).map((l) => l.trim().split(/\s{2,}/)[0]!.replace(/ <.*>$/, ""));
}

const FLAG_TEXT: Record<string, string> = {
  json: "--json", profile: "--profile", config: "--config", state: "--state", yes: "-y, --yes",
  quiet: "-q, --quiet", verbose: "-v, --verbose", debug: "--debug", color: "--no-color", input: "--no-input",
};

describe("automna version", () => {
  it("prints the version, Node's, the state schema versions and the platform", async () => {
    const r = await runCli(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      `automna:      ${VERSION}`,
      `node:         ${process.versions.node}`,
      `state schema: ${SCHEMA_VERSION} (SQLite), ${PG_SCHEMA_VERSION} (PostgreSQL)`,
      `platform:     ${process.platform}-${process.arch}`,
      "",
    ].join("\n"));
    const json = await runCli(["version", "--json"]);
    expect(json.json()).toEqual({
      version: VERSION, node: process.versions.node, stateSchema: { sqlite: SCHEMA_VERSION, postgres: PG_SCHEMA_VERSION }, platform: `${process.platform}-${process.arch}`,
    });
    expect((await runCli(["--json", "version"])).json()).toEqual(json.json());
  });
});

describe("automna help <command>", () => {
  it("prints exactly what <command> --help prints, for commands, groups and subcommands", async () => {
    for (const path of [["list"], ["destroy"], ["config"], ["migrate", "status"], ["state", "token", "create"], ["help"], ["version"]]) {
      const help = await runCli(["help", ...path]);
      const flag = await runCli([...path, "--help"]);
      expect(help.code, path.join(" ")).toBe(0);
      expect(flag.code).toBe(0);
      expect(help.stdout).toBe(flag.stdout);
      expect(help.stdout).toContain(`Usage: automna ${path.join(" ")} `);
    }
    const root = await runCli(["help"]);
    expect(root.code).toBe(0);
    expect(root.stdout).toBe((await runCli(["--help"])).stdout);
  });

  it("names an unknown command with a suggestion and exits 2", async () => {
    const typo = await runCli(["help", "confg"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe('Error: unknown command \'confg\' (did you mean config?)\nHint: run "automna --help" for the list of commands\n');
    const sub = await runCli(["--json", "help", "config", "lst"]);
    expect(sub.code).toBe(2);
    expect(sub.json()).toEqual({ error: { code: "usage", message: "unknown command 'config lst' (did you mean list?)", hint: 'run "automna help config" for the list of commands' } });
  });
});

describe("the global flags in each command's help", () => {
  it("lists, under every command and subcommand, the global flags its manifest entry says it honours", async () => {
    const always = ["quiet", "verbose", "debug", "color"];
    for (const entry of COMMANDS) {
      const expected = Object.keys(FLAG_TEXT).filter((f) => always.includes(f) || (entry.globals as string[]).includes(f)).map((f) => FLAG_TEXT[f]);
      const page = await runCli([entry.name, "--help"]);
      expect(page.code, entry.name).toBe(0);
      expect(globalFlags(page.stdout), entry.name).toEqual(expected);
    }
    const sub = await runCli(["config", "list", "--help"]);
    expect(globalFlags(sub.stdout)).toEqual(["--json", "--profile", "--config", "-q, --quiet", "-v, --verbose", "--debug", "--no-color", "--no-input"]);
  });

  it("shows --yes for commands that confirm and not for those that never ask", async () => {
    const destroy = (await runCli(["destroy", "--help"])).stdout;
    expect(destroy).toContain("\nGlobal flags:\n");
    expect(destroy).toMatch(/\n {2}-y, --yes +answer yes to confirmations\n/);
    expect(globalFlags((await runCli(["list", "--help"])).stdout)).not.toContain("-y, --yes");
    expect(globalFlags((await runCli(["ssh", "--help"])).stdout)).not.toContain("--json");
  });

  it("keeps the root page's list of commands to names and summaries, each with its example", async () => {
    const root = (await runCli(["--help"])).stdout;
    for (const entry of COMMANDS) {
      expect(root).toMatch(new RegExp(`\\n {2}${entry.name} +${entry.summary.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
      expect(root).toContain(`$ ${entry.example}`);
    }
    // The root page lists every global flag.
    expect(globalFlags(root)).toEqual(Object.values(FLAG_TEXT));
  });
});

describe("loading commands", () => {
  it("loads the command the command line names, however the global flags before it are written", async () => {
    const home = makeHome();
    try {
      const forms = [["config", "path"], ["--profile", "default", "config", "path"], ["--profile=default", "config", "path"], ["--", "config", "path"], ["-q", "config", "path"], ["-qy", "--no-color", "config", "path"], ["config", "--json", "path"]];
      for (const argv of forms) {
        const r = await runCli(argv, { env: home.env });
        expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(0);
        expect(r.stdout).toContain(home.configPath);
      }
      // A lone --no-x flag's default (true) is settled as commander dispatches: the command was built first.
      const listed = await runCli(["--quiet", "config", "list", "--columns", "key"], { env: home.env });
      expect(listed.stdout.split("\n")[0]).toBe("KEY");
      const unknown = await runCli(["--bogus", "config", "path"], { env: home.env });
      expect(unknown.stderr).toBe("Error: unknown option '--bogus'\nHint: run the command with --help for its flags\n");
    } finally {
      home.cleanup();
    }
  });
});
