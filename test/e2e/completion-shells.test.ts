/**
 * Shell completion driven through each real shell (#17 item 4): bash calls the completion
 * function as readline would (COMP_LINE, COMP_WORDS...); zsh (with compinit) and fish run
 * interactively in tmux, where a TAB is typed and the screen read. Every shell asks the built
 * binary (`automna __complete`), found on PATH as `automna`.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import { until } from "../helpers/budget.js";
import { BIN } from "../helpers/bin.js";
import { makeHome } from "../helpers/cli.js";

const home = makeHome();
const binDir = join(home.dir, "bin");
const env = { ...home.env, PATH: `${binDir}:${process.env.PATH ?? ""}`, TERM: "xterm-256color" };
const SOCKET = `automna-complete-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", SOCKET, "-f", "/dev/null", ...args], { encoding: "utf8" });
const quote = (text: string): string => `'${text.replace(/'/g, "'\\''")}'`;

async function seed(path: string, users: string[]): Promise<void> {
  mkdirSync(join(path, ".."), { recursive: true });
  const store = await SqliteStore.open(path);
  for (const user of users) {
    await store.createInstance({ user, role: "live", provider: "hetzner", region: "fsn1", size: "cx22", image: "a:1", resources: {}, addresses: {}, status: "running", opId: null, meta: {} });
  }
  await store.close();
}

beforeAll(async () => {
  mkdirSync(binDir, { recursive: true });
  writeFileSync(join(binDir, "automna"), `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(BIN)} "$@"\n`);
  chmodSync(join(binDir, "automna"), 0o755);
  mkdirSync(join(home.dir, "config", "automna"), { recursive: true });
  writeFileSync(home.configPath, JSON.stringify({ profiles: { default: {}, sandbox: { provider: "fly" } } }));
  await seed(home.statePath, ["carol"]);
  await seed(join(home.dir, "data", "automna", "profiles", "sandbox", "state.db"), ["alice", "albert", "bob"]);
});
afterAll(() => {
  try {
    tmux("kill-server");
  } catch {
    // no server left
  }
  home.cleanup();
});

/** The cases every shell must get right: the line typed, words that must be offered, words that must not. */
const CASES: { line: string; want: string[]; not?: string[] }[] = [
  { line: "automna --profile sandbox status al", want: ["alice", "albert"], not: ["bob", "carol"] },
  { line: "automna status ", want: ["carol"], not: ["alice"] },
  { line: "automna lock list --", want: ["--columns", "--sort", "--no-header"], not: ["--min-ram", "--currency", "--db", "--refresh"] },
  { line: "automna provision --provider hetzner --region ", want: ["fsn1", "nbg1", "hel1"], not: ["ams", "fra1"] },
  { line: "automna --profile sandbox provision --size shared-cpu-1x-", want: ["shared-cpu-1x-1gb", "shared-cpu-1x-2gb"], not: ["cx22"] },
  { line: "automna list -o ", want: ["table", "json", "yaml", "ndjson", "csv"] },
  { line: "automna status carol -o ", want: ["table", "json", "yaml", "ndjson"], not: ["csv"] },
  { line: "automna config get state.", want: ["state.path", "state.url"], not: ["region"] },
  { line: "automna --profile ", want: ["default", "sandbox"] },
  { line: "automna migrate --from fly --to ", want: ["hetzner", "digitalocean", "koyeb"] },
];

describe("bash", () => {
  const script = join(home.dir, "automna.bash");
  beforeAll(() => writeFileSync(script, execFileSync("automna", ["completion", "bash"], { env, encoding: "utf8" })));

  /** COMPREPLY for a line, with COMP_WORDS split as bash splits them (at spaces, = and :). */
  function complete(line: string): string[] {
    const words = line.replace(/([=:])/g, " $1 ").replace(/ +$/, " ").split(/ +/);
    const program = `source ${quote(script)}; COMP_LINE=${quote(line)}; COMP_POINT=${line.length}; COMP_WORDS=(${words.map(quote).join(" ")}); COMP_CWORD=${words.length - 1}; _automna; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return execFileSync("bash", ["--norc", "-c", program], { env, encoding: "utf8" }).split("\n").filter(Boolean);
  }

  it("completes commands after global flags, each command's own flags, flag values and user ids", () => {
    expect(complete("automna li")).toEqual(["list"]);
    expect(complete("automna --profile sandbox li")).toEqual(["list"]);
    for (const c of CASES) {
      const got = complete(c.line);
      expect({ line: c.line, got: got.filter((g) => c.want.includes(g)).sort() }).toEqual({ line: c.line, got: [...c.want].sort() });
      for (const n of c.not ?? []) expect({ line: c.line, offered: got.includes(n) }).toEqual({ line: c.line, offered: false });
    }
  });

  it("completes after = and : as bash splits them", () => {
    expect(complete("automna list --output=ya")).toEqual(["yaml"]);
    expect(complete("automna cost-report --by lab")).toEqual(["label:"]);
  });
});

/** A shell in a tmux window; a line typed with a TAB after it; the screen read until it shows what is expected. */
function interactive(name: string, command: string, ready: string): { tab(line: string, want: string[]): Promise<string> } {
  const envs = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`).join(" ");
  tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "40", `env -i ${envs} ${command}`);
  const screen = (): string => tmux("capture-pane", "-p", "-t", name);
  let started: Promise<unknown> | undefined;
  /**
   * Cancels the last line typed and clears the screen, then waits for the prompt alone: a Ctrl-C
   * that came while the shell was still busy with the last TAB (its pager, a completion call) can
   * leave that line in place, and the next one would be typed after it. Sent again then.
   */
  const clearLine = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      tmux("send-keys", "-t", name, "C-c");
      tmux("send-keys", "-t", name, "C-l");
      if (await until(() => screen().trim() === ready).catch(() => false)) return;
      if (attempt === 3) throw new Error(`the ${name} prompt did not come back empty after Ctrl-C and Ctrl-L:\n${screen()}`);
    }
  };
  return {
    async tab(line, want) {
      started ??= until(() => screen().includes(ready), 20_000);
      await started;
      await clearLine();
      tmux("send-keys", "-t", name, "-l", line);
      tmux("send-keys", "-t", name, "Tab");
      return until(() => {
        const now = screen();
        // fish's pager shortens a common prefix to "…".
        return want.every((w) => now.split(/\s+/).some((word) => word === w || (word.startsWith("…") && w.endsWith(word.slice(1))))) ? now : undefined;
      }, 20_000).catch((e: unknown) => {
        throw new Error(`${String(e)}: "${line}" showed:\n${screen()}`);
      });
    },
  };
}

async function driveCases(shell: { tab(line: string, want: string[]): Promise<string> }): Promise<void> {
  // One candidate: the line itself is completed.
  expect(await shell.tab("automna --profile sandbox li", ["list"])).toContain("automna --profile sandbox list");
  for (const c of CASES) {
    const screen = await shell.tab(c.line, c.want);
    const words = screen.split(/\s+/);
    for (const n of c.not ?? []) expect({ line: c.line, offered: words.includes(n) }).toEqual({ line: c.line, offered: false });
  }
}

describe("zsh (compinit) in a terminal", () => {
  it("completes the same as bash", async () => {
    const zdot = join(home.dir, "zdot");
    mkdirSync(zdot, { recursive: true });
    writeFileSync(join(zdot, ".zshrc"), 'autoload -Uz compinit; compinit -u; eval "$(automna completion zsh)"; PS1="zsh-ready> "\n');
    const zsh = interactive("zsh", `env ZDOTDIR=${quote(zdot)} zsh -i`, "zsh-ready>");
    await driveCases(zsh);
  });
});

describe("fish in a terminal", () => {
  it("completes the same as bash, offering only the command's own flags", async () => {
    const fish = interactive("fish", `fish --no-config -C ${quote("automna completion fish | source; function fish_prompt; echo 'fish-ready> '; end")}`, "fish-ready>");
    await driveCases(fish);
  });
});
