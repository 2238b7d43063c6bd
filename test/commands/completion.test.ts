import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

let home: Sandbox;
afterEach(() => home?.cleanup());

describe("automna completion", () => {
  it("completes commands, subcommands and flags in bash", async () => {
    home = makeHome();
    const r = await runCli(["completion", "bash"], { env: home.env });
    expect(r.code).toBe(0);
    const script = join(home.dir, "c.bash");
    writeFileSync(script, r.stdout);
    // Drive the real completion function the way bash would.
    const complete = (line: string): string[] => {
      const words = line.split(" ");
      const out = execFileSync("bash", ["-c", `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _automna; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: "utf8" });
      return out.split("\n").filter(Boolean);
    };
    expect(complete("automna con")).toEqual(["config"]);
    expect(complete("automna config ")).toEqual(expect.arrayContaining(["get", "set", "unset", "list", "path"]));
    expect(complete("automna config list --col")).toEqual(["--columns"]);
    expect(complete("automna --json config l")).toEqual(["list"]);
  });

  it("prints zsh and fish scripts and rejects other shells", async () => {
    home = makeHome();
    expect((await runCli(["completion", "zsh"], { env: home.env })).stdout).toContain("compdef _automna automna");
    expect((await runCli(["completion", "fish"], { env: home.env })).stdout).toContain("complete -c automna -n '__fish_seen_subcommand_from config' -a list");
    const bad = await runCli(["completion", "powershell"], { env: home.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown shell "powershell"');
  });
});
