import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Context } from "../../src/context.js";
import { accessWorld, hostKeyOf, provision, provisionFly, seqs, type AccessWorld } from "../access/helpers.js";
import { budget, budgetSetting } from "../helpers/budget.js";
import { runCli, type MemoryStream } from "../helpers/cli.js";
import { until } from "../sandbox/host-helpers.js";

let w: AccessWorld;
beforeAll(async () => {
  w = await accessWorld();
  await provisionFly(w, ["flo", "fin"]);
  await provision(w, "hetzner", ["hal"]);
});
afterAll(async () => {
  await w?.cleanup();
});

interface Line { user: string; provider: string; time: string; line: string }
const ndjson = (text: string): Line[] => text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line);
const execCalls = () => w.sb.requests().filter((r) => r.provider === "fly" && r.method === "POST" && r.path.endsWith("/exec"));

describe("Fly: commands through the Machines API exec endpoint", () => {
  it("ssh -- cmd: output written through, exit code and stdin passed on, no SSH involved", async () => {
    const before = execCalls().length;
    const r = await runCli(["ssh", "flo", "--", "echo hi; echo oops >&2; hostname; exit 4"], { env: w.env });
    expect(r).toMatchObject({ code: 4, stdout: "hi\nautomna-flo\n", stderr: "oops\n" });
    const { key } = await hostKeyOf(w, "flo");
    expect(execCalls().slice(before).map((c) => c.path)).toEqual([`/v1/apps/automna-flo/machines/${key.slice("fly:".length)}/exec`]);
    const stdin = await runCli(["ssh", "flo", "--", 'f=$(mktemp); cat > "$f"; wc -c < "$f"; cat "$f" >&2'], { env: w.env, stdin: "héllo\n" });
    expect(stdin).toMatchObject({ code: 0, stdout: "7\n", stderr: "héllo\n" });
    // The API carries stdin as a JSON string: bytes that are not UTF-8 cannot travel, and automna says so.
    const binary = await runCli(["ssh", "flo", "--", "cat > /dev/null"], { env: w.env, stdin: Buffer.from([0xff, 0xfe, 0x00, 0x80]) });
    expect(binary.code).toBe(2);
    expect(binary.stderr).toContain("Error: Fly.io's exec API carries stdin as text, and this input is not UTF-8");
    // Fly machines get no host key from automna (nothing to pin): they are never reached over SSH.
    const status = await runCli(["status", "flo", "--json"], { env: w.env });
    expect(status.json<{ instance: { meta: Record<string, unknown> } }>().instance.meta.hostKeys).toBeUndefined();
  });

  it("ssh --timeout through the exec API: says what timed out and exits 124", async () => {
    const hang = Math.ceil(budget(20_000) / 1000);
    const r = await runCli(["ssh", "flo", "--timeout", budgetSetting(2000), "--", `sleep ${hang}`], { env: w.env });
    expect(r.code).toBe(124);
    expect(r.stderr).toMatch(/^Error: the command on flo\b.* did not finish within [\d.]+ s and was stopped \(--timeout\)$/m);
  });

  it("exec across Fly and Hetzner users at once", async () => {
    const r = await runCli(["--json", "exec", "flo", "hal", "fin", "--", "hostname"], { env: w.env });
    expect(r.code).toBe(0);
    expect(r.json<{ user: string; provider: string; stdout: string }[]>().map((x) => [x.user, x.provider, x.stdout])).toEqual([
      ["flo", "fly", "automna-flo\n"], ["hal", "hetzner", "automna-hal\n"], ["fin", "fly", "automna-fin\n"],
    ]);
  });

  it("an interactive shell needs flyctl: without it a clear exit 2, with it flyctl ssh console runs", async () => {
    const without = await runCli(["ssh", "flo"], { env: { ...w.env, PATH: "/usr/bin:/bin" } });
    expect(without.code).toBe(2);
    expect(without.stderr).toContain("Error: an interactive shell on Fly.io needs flyctl, which is not on PATH: Fly.io machines have no SSH endpoint automna can reach");
    expect(without.stderr).toContain("Hint: install flyctl");
    expect(without.stderr).toContain("automna ssh flo -- <command>");
    const bin = join(w.home.dir, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "flyctl"), `#!/bin/sh\necho "$@" > ${JSON.stringify(join(bin, "args"))}\nexit 9\n`);
    chmodSync(join(bin, "flyctl"), 0o755);
    const withIt = await runCli(["ssh", "flo"], { env: { ...w.env, PATH: `${bin}:/usr/bin:/bin` } });
    expect(withIt.code).toBe(9);
    const { key } = await hostKeyOf(w, "flo");
    expect(readFileSync(join(bin, "args"), "utf8")).toBe(`ssh console -a automna-flo --machine ${key.slice("fly:".length)}\n`);
  });
});

describe("Fly: logs through the logs API", () => {
  it("--tail and --since are applied here; several users merge in time order", async () => {
    const tail = await runCli(["logs", "flo", "--tail", "5", "--json"], { env: w.env });
    expect(tail.code, tail.stderr).toBe(0);
    const lines = ndjson(tail.stdout);
    expect(lines).toHaveLength(5);
    expect(lines.every((l) => l.user === "flo" && l.provider === "fly")).toBe(true);
    expect(seqs(tail.stdout)).toEqual(Array.from({ length: 5 }, (_, i) => seqs(tail.stdout)[0]! + i));
    const since = await runCli(["logs", "flo", "fin", "--since", lines[2]!.time, "--json"], { env: w.env });
    const merged = ndjson(since.stdout);
    expect(merged.map((l) => l.time)).toEqual(merged.map((l) => l.time).sort());
    expect(merged.every((l) => l.time >= lines[2]!.time)).toBe(true);
    expect(new Set(merged.map((l) => l.user))).toEqual(new Set(["flo", "fin"]));
    expect(merged.find((l) => l.user === "flo")).toEqual(lines[2]);
  });

  it("--follow polls with next_token and rides out API failures without duplicates or gaps", async () => {
    const controller = new AbortController();
    let stdout: MemoryStream | undefined;
    const running = runCli(["logs", "fin", "-f", "--tail", "2"], { env: w.env, signal: controller.signal, setup: (ctx: Context) => (stdout = ctx.io.streams.stdout as MemoryStream) });
    await until(() => seqs(stdout?.text() ?? "").length >= 10 || undefined, 10_000);
    // The logs API drops every connection for a while.
    w.sb.setFaults({ rules: [{ kind: "reset", provider: "fly", path: "/api/v1/apps/*/logs", durationMs: 700 }] });
    const mark = seqs(stdout!.text()).length;
    await new Promise((r) => setTimeout(r, 700));
    await until(() => seqs(stdout!.text()).length >= mark + 40 || undefined, 10_000);
    controller.abort();
    const r = await running;
    w.sb.setFaults({});
    expect(r.code).toBe(0);
    const got = seqs(r.stdout);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => got[0]! + i));
    expect(w.sb.requests().some((q) => q.path === "/api/v1/apps/automna-fin/logs" && q.status === 0)).toBe(true);
  });
});
