/**
 * `automna logs -f` on Koyeb follows through the log-tail WebSocket of the sandbox's stand-in
 * (over real loopback): lines written after the follow began, no polling of the query API while
 * it follows, a dropped socket resumed from the last line shown without duplicates or gaps,
 * merged in time order with a Hetzner user's lines, and ended by Ctrl-C or a closed pipe (exit 0).
 */
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessWorld, interruptFollow, expectContiguous, followLogs, provision, seqs, type AccessWorld } from "../access/helpers.js";
import { BIN } from "../helpers/bin.js";
import { budget, QUIET_MS, until } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";

let w: AccessWorld;
beforeAll(async () => {
  w = await accessWorld();
  await provision(w, "hetzner", ["hal"]);
  const made = await runCli(["provision", "kai", "--provider", "koyeb", "--region", "fra", "--size", "micro", "--json"], { env: w.env });
  if (made.code !== 0) throw new Error(`provision failed: ${made.stderr}`);
  await w.sb.settled();
}, budget(QUIET_MS.test * 2));
afterAll(async () => {
  await w?.cleanup();
});

interface Line { user: string; provider: string; time: string; line: string }
const ndjson = (text: string): Line[] => text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line);
const koyebRequests = (from: number) => w.sb.requests().slice(from).filter((r) => r.provider === "koyeb");

const follow = (args: string[]) => followLogs(w.env, args);

/** The secrets in automna's environment, which no output may show. */
const secrets = () => Object.entries(w.env).filter(([k]) => /TOKEN|SECRET/.test(k)).map(([, v]) => v).filter((v) => v.length >= 8);

describe("automna logs -f on Koyeb (the tail WebSocket)", () => {
  it("prints lines written after it began, through the tail socket, with no polling of the query API", async () => {
    const from = w.sb.requests().length;
    const began = new Date().toISOString();
    const f = follow(["--debug", "logs", "kai", "-f", "--tail", "2", "--json"]);
    await until(() => ndjson(f.out()).filter((l) => l.time > began).length >= 10 || undefined, QUIET_MS.poll * 2);
    const r = await f.stop();
    expect(r.code, r.stderr).toBe(0);
    const lines = ndjson(r.stdout);
    expect(lines.every((l) => l.user === "kai" && l.provider === "koyeb")).toBe(true);
    expect(lines.filter((l) => l.time > began).length).toBeGreaterThanOrEqual(10);
    expectContiguous(seqs(r.stdout));
    const requests = koyebRequests(from);
    const firstTail = requests.findIndex((q) => q.path === "/v1/streams/logs/tail");
    expect(firstTail).toBeGreaterThanOrEqual(0);
    expect(requests[firstTail]!.status).toBe(101);
    // The backlog reads the query API; once the socket is open, nothing polls it.
    expect(requests.slice(firstTail).filter((q) => q.path === "/v1/streams/logs/query")).toEqual([]);
    for (const s of secrets()) expect(r.stdout + r.stderr).not.toContain(s);
  });

  it("a dropped socket reconnects from the last line shown: no duplicates, no gaps", async () => {
    const from = w.sb.requests().length;
    w.sb.setFaults({ rules: [{ provider: "koyeb", kind: "reset", commit: true, path: "/v1/streams/logs/tail", count: 2 }] });
    try {
      const f = follow(["logs", "kai", "-f", "--tail", "3", "--json"]);
      await until(() => koyebRequests(from).filter((q) => q.path === "/v1/streams/logs/tail").length >= 3 || undefined, QUIET_MS.poll * 2);
      const seen = seqs(f.out()).length;
      await until(() => seqs(f.out()).length >= seen + 10 || undefined, QUIET_MS.poll * 2);
      const r = await f.stop();
      expect(r.code, r.stderr).toBe(0);
      expectContiguous(seqs(r.stdout));
      const requests = koyebRequests(from);
      const firstTail = requests.findIndex((q) => q.path === "/v1/streams/logs/tail");
      // Every reconnect is another tail socket, never a query poll.
      expect(requests.slice(firstTail).filter((q) => q.path === "/v1/streams/logs/query")).toEqual([]);
    } finally {
      w.sb.setFaults({});
    }
  });

  it("two users, Koyeb and Hetzner: the backlog merged in time order, then each user's lines in order", async () => {
    const f = follow(["logs", "kai", "hal", "-f", "--tail", "5", "--json"]);
    const per = (text: string, user: string) => ndjson(text).filter((l) => l.user === user);
    await until(() => per(f.out(), "kai").length >= 15 && per(f.out(), "hal").length >= 15 || undefined, QUIET_MS.poll * 2);
    const r = await f.stop();
    expect(r.code, r.stderr).toBe(0);
    const lines = ndjson(r.stdout);
    // The first ten are the two backlogs, merged before anything followed.
    const backlog = lines.slice(0, 10);
    expect(backlog.map((l) => l.time)).toEqual(backlog.map((l) => l.time).sort());
    expect(new Set(backlog.map((l) => l.provider))).toEqual(new Set(["koyeb", "hetzner"]));
    for (const user of ["kai", "hal"]) {
      const mine = per(r.stdout, user);
      expect(mine.map((l) => l.time)).toEqual(mine.map((l) => l.time).sort());
      expectContiguous(seqs(mine.map((l) => l.line).join("\n")));
    }
  });
});

describe("automna logs -f on Koyeb through the binary", () => {
  it("ends quietly with exit 0 when its reader goes away (logs -f | head)", async () => {
    const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const r = await execa("sh", ["-c", `{ ${q(process.execPath)} ${q(BIN)} logs kai -f --tail 1; echo "automna exit $?" >&2; } | head -n 5`], { env: w.env, extendEnv: false, reject: false, timeout: budget(QUIET_MS.binaryRun) });
    expect(r.timedOut).toBe(false);
    expect(seqs(r.stdout)).toHaveLength(5);
    expect(r.stderr).toBe("automna exit 0");
  });

  it("Ctrl-C (SIGINT) ends a follow cleanly with exit 0", async () => {
    const r = await interruptFollow(w.env, "kai");
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe("");
    expectContiguous(seqs(String(r.stdout)));
  });
});
