/**
 * `exec` and `ssh -- cmd` on the API providers whose exec streams (Koyeb's WebSocket frames, the
 * Cloudflare bridge's server-sent events) show output while the command runs, as OpenSSH does on
 * the VMs. The order is proved, not timed: the command prints a line and then waits for a marker
 * file that only a second command, started when that line reached automna's stdout, creates. Had
 * the output come at the end, the command would have given up waiting and said so. (Fly's exec
 * endpoint answers once, at the end: its output cannot stream; see the README.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { makeHome, runCli, type RunResult } from "../helpers/cli.js";
import { startFleetSandbox, type FleetSandbox } from "../helpers/fleet-sandbox.js";

let fs: FleetSandbox;
const home = makeHome();
const run = (args: string[], onStdout?: (chunk: Buffer) => void) => runCli(args, { env: fs.env(home), ...(onStdout ? { onStdout } : {}) });

beforeAll(async () => {
  fs = await startFleetSandbox();
  const made = await Promise.all([
    run(["provision", "kai", "--provider", "koyeb", "--region", "fra", "--size", "micro", "--json"]),
    run(["provision", "cleo", "--provider", "cloudflare-sandbox", "--region", "auto", "--size", "basic", "--allow-sleep", "--json"]),
  ]);
  for (const r of made) if (r.code !== 0) throw new Error(r.stderr);
  await fs.sandbox.settled();
}, budget(2 * QUIET_MS.test));
afterAll(async () => {
  home.cleanup();
  await fs?.close();
});

/** How long the command waits for its marker before it gives up (only a failing run waits it out). */
const GIVE_UP_S = Math.ceil(budget(QUIET_MS.test) / 1000);

/**
 * Runs `argv(command)` where the command prints "first", waits for a marker, then prints "second"
 * (or "no-marker" when it gave up); the marker is made by `automna exec` once "first" was seen.
 */
async function printWaitPrint(user: string, tag: string, argv: (command: string) => string[]): Promise<RunResult> {
  const go = `"\${AUTOMNA_DATA:-/data}/go-${tag}"`;
  const command = `rm -f ${go}; echo first; i=0; while [ ! -f ${go} ] && [ $i -lt ${GIVE_UP_S * 20} ]; do sleep 0.05; i=$((i+1)); done; `
    + `if [ -f ${go} ]; then echo second; else echo no-marker; fi; rm -f ${go}`;
  let marker: Promise<RunResult> | undefined;
  const r = await run(argv(command), (chunk) => {
    if (!marker && chunk.toString().includes("first")) marker = run(["exec", user, "--", `touch ${go}`]);
  });
  const made = await marker;
  expect(made?.code, made?.stderr).toBe(0);
  return r;
}

describe.each([
  ["Koyeb (exec WebSocket)", "kai"],
  ["Cloudflare Sandbox (bridge SSE)", "cleo"],
])("%s: output streams while the command runs", (_what, user) => {
  it("ssh -- cmd: the first line is out before the command ends", async () => {
    const r = await printWaitPrint(user, "ssh", (command) => ["ssh", user, "--", command]);
    expect([r.code, r.stdout], r.stderr).toEqual([0, "first\nsecond\n"]);
  }, budget(2 * QUIET_MS.test));

  it("exec: lines prefixed by user as they arrive", async () => {
    const r = await printWaitPrint(user, "exec", (command) => ["exec", user, "--", command]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean).map((l) => l.replace(/\s+/g, " "))).toEqual([`${user} | first`, `${user} | second`]);
  }, budget(2 * QUIET_MS.test));
});
