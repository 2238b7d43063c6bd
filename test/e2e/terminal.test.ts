/**
 * Live views in a real terminal (#17 item 6): the built binary under tmux, a narrow window, a
 * sandbox slow enough that the board draws frames. What is left in the window and its scrollback
 * once the command ends (or is interrupted with Ctrl-C) is what a person would see.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers/budget.js";
import { BIN } from "../helpers/bin.js";
import { makeHome } from "../helpers/cli.js";
import { startFleetSandbox, type FleetSandbox } from "../helpers/fleet-sandbox.js";

const FRAMES = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;
const SOCKET = `automna-test-${process.pid}`;
const WIDTH = 40;
let fs: FleetSandbox;
const home = makeHome();

const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", SOCKET, "-f", "/dev/null", ...args], { encoding: "utf8" });

/** Starts the binary in a new tmux window WIDTH columns wide; the shell says EXIT=<code> after it. */
function start(name: string, args: string[]): void {
  const env = Object.entries({ ...fs.env(home), TERM: "xterm-256color" }).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  // The shell outlives a Ctrl-C (a trap, not an ignore: the binary gets the default) to say EXIT=.
  const command = `trap : INT; env -i ${env} ${shellQuote(process.execPath)} ${shellQuote(BIN)} ${args.map(shellQuote).join(" ")}; echo EXIT=$?; sleep 600`;
  tmux("new-session", "-d", "-s", name, "-x", String(WIDTH), "-y", "20", command);
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** The window's rows, its scrollback included. */
function screen(name: string): string[] {
  return tmux("capture-pane", "-p", "-t", name, "-S", "-2000").split("\n");
}

beforeAll(async () => {
  // Slow transitions: provisioning takes long enough for the board to draw several frames.
  fs = await startFleetSandbox({ actionDelayMs: 1500 });
});
afterAll(async () => {
  try {
    tmux("kill-server");
  } catch {
    // no server left
  }
  await fs?.close();
  home.cleanup();
});

describe("live views in a terminal", () => {
  it("the provision board fits a 40-column window and leaves nothing of itself behind", async () => {
    start("fit", ["provision", "alpha-user-with-a-long-name", "beta-user-with-a-long-name", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22"]);
    // The board drew at least one frame at this width before the run ended.
    await until(() => screen("fit").some((l) => FRAMES.test(l)), 60_000);
    const rows = await until(() => {
      const now = screen("fit");
      return now.some((l) => l.startsWith("EXIT=")) ? now : undefined;
    }, 120_000);
    expect(rows.find((l) => l.startsWith("EXIT="))).toBe("EXIT=0");
    // No frame, no fragment of a wrapped frame, no board summary line: only the results.
    expect(rows.filter((l) => FRAMES.test(l) || /running$/.test(l))).toEqual([]);
    expect(rows.join("\n")).toContain("2 created");
  });

  it("Ctrl-C during a run: exit 130 and the error starts on a clean line, no spinner glyph in front", async () => {
    start("cancel", ["provision", "gamma", "delta", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22"]);
    await until(() => screen("cancel").some((l) => FRAMES.test(l)), 60_000);
    tmux("send-keys", "-t", "cancel", "C-c");
    const rows = await until(() => {
      const now = screen("cancel");
      return now.some((l) => l.startsWith("EXIT=")) ? now : undefined;
    }, 120_000);
    expect(rows.find((l) => l.startsWith("EXIT="))).toBe("EXIT=130");
    expect(rows.filter((l) => FRAMES.test(l))).toEqual([]);
    expect(rows.some((l) => l.startsWith("Error: "))).toBe(true);
  });
});
