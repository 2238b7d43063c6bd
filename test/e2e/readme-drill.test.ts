import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { automna } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { makeHome } from "../helpers/cli.js";

/**
 * The README's outage drill, run line by line as an operator would paste it: the documentation
 * cannot drift from what the commands do. The only change: `sandbox up` gets ephemeral ports (a
 * sandbox someone runs on the default ports is left alone) and short action delays.
 */
const README = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");

interface DrillLine {
  args: string[];
  /** The exit code the line's comment gives (`exit 1: ...`), else 0. */
  exit: number;
}

function drillLines(): DrillLine[] {
  const start = README.indexOf("The outage drill, in the sandbox");
  const block = /```sh\n([\s\S]*?)```/.exec(README.slice(start));
  if (start < 0 || !block) throw new Error("README.md has no outage drill block");
  return block[1]!.split("\n").filter((line) => line.trim().length > 0).map((line) => {
    const [command = "", comment = ""] = line.split("#");
    const words = command.trim().split(/\s+/);
    if (words[0] !== "automna") throw new Error(`README drill line is not an automna command: ${line}`);
    return { args: words.slice(1), exit: Number(/\bexit (\d+)/.exec(comment)?.[1] ?? 0) };
  });
}

const home = makeHome();
afterAll(async () => {
  await automna(["sandbox", "down"], home.env);
  home.cleanup();
});

describe("README: the outage drill", () => {
  it("runs as written: three users failed over from Hetzner to Fly, their zombies found and stopped", async () => {
    const lines = drillLines();
    expect(lines.length).toBeGreaterThanOrEqual(8);
    const outputs: string[] = [];
    for (const { args, exit } of lines) {
      if (args[0] === "sandbox" && args[1] === "up") args.push("--port", "0", "--action-delay", "20");
      const res = await automna(args, home.env, { quietMs: QUIET_MS.migration });
      expect(res.exitCode, `automna ${args.join(" ")}\n${String(res.stderr)}`).toBe(exit);
      outputs.push(`${String(res.stdout)}\n${String(res.stderr)}`);
    }
    const doctor = outputs[lines.findIndex((l) => l.args.at(-1) === "doctor")]!;
    for (const user of ["alice", "bob", "carol"]) expect(doctor).toMatch(new RegExp(`zombie.*\\b${user}\\b|\\b${user}\\b.*zombie`));
    // After --fix nothing runs twice: the users are on Fly, healthy, and doctor finds no zombie.
    const status = await automna(["--profile", "sandbox", "list", "--json"], home.env);
    const rows = JSON.parse(String(status.stdout)) as { user: string; provider: string; role: string; status: string }[];
    const serving = rows.filter((r) => r.role === "live");
    expect(serving.map((r) => [r.user, r.provider]).sort()).toEqual([["alice", "fly"], ["bob", "fly"], ["carol", "fly"]]);
    // The old agents stay lost (stopped, not destroyed: --destroy-lost would); doctor finds none running.
    expect(rows.filter((r) => r.provider === "hetzner").map((r) => r.status)).toEqual(["lost", "lost", "lost"]);
    const again = await automna(["--profile", "sandbox", "doctor"], home.env);
    expect(`${String(again.stdout)}${String(again.stderr)}`).not.toMatch(/zombie/);
  }, budget(QUIET_MS.test + 4 * QUIET_MS.migration));
});
