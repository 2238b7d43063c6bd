/**
 * `list --watch` and `status --watch` (#17 item 3): piped, NDJSON change events until Ctrl-C
 * (exit 0); on a terminal (the built binary under tmux), a frame redrawn in place that fits the
 * window and stays on screen after Ctrl-C, again with exit 0.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Context } from "../../src/context.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import type { NewInstance } from "../../src/state/types.js";
import { until } from "../helpers/budget.js";
import { BIN } from "../helpers/bin.js";
import { makeHome, runCli, type MemoryStream } from "../helpers/cli.js";

const SOCKET = `automna-watch-${process.pid}`;
const home = makeHome();
const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", SOCKET, "-f", "/dev/null", ...args], { encoding: "utf8" });
const quote = (text: string): string => `'${text.replace(/'/g, "'\\''")}'`;

function instance(user: string, over: Partial<NewInstance> = {}): NewInstance {
  return {
    user, role: "live", provider: "hetzner", region: "fsn1", size: "cx22", image: "agent:1", resources: { server: `${user}-1` },
    addresses: {}, status: "running", opId: null, meta: {}, ...over,
  };
}

/** Changes state as another operator would, between two reads of the watcher. */
async function withStore<T>(fn: (store: SqliteStore) => Promise<T>): Promise<T> {
  const store = await SqliteStore.open(home.statePath);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  await withStore(async (s) => {
    await s.createInstance(instance("ann"));
    await s.createInstance(instance("bob", { status: "stopped" }));
  });
});
afterAll(() => {
  try {
    tmux("kill-server");
  } catch {
    // no server left
  }
  home.cleanup();
});

/** Starts a watch in-process (stdout piped), hands back the events so far and Ctrl-C. */
function startWatch(args: string[]): { events: () => { type: string; key: string; object: Record<string, unknown> | null }[]; stop: () => Promise<number> } {
  const controller = new AbortController();
  let stdout: MemoryStream | undefined;
  const running = runCli(args, { env: home.env, signal: controller.signal, setup: (ctx: Context) => (stdout = ctx.io.streams.stdout as MemoryStream) });
  return {
    events: () => (stdout?.text() ?? "").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; key: string; object: Record<string, unknown> | null }),
    stop: async () => {
      controller.abort();
      return (await running).code;
    },
  };
}

describe("--watch piped: NDJSON change events until Ctrl-C", () => {
  it("list --watch: every row added, then what was added, modified and deleted; exit 0", async () => {
    const w = startWatch(["list", "--watch", "--interval", "200ms"]);
    await until(() => w.events().length >= 2);
    expect(w.events().map((e) => [e.type, e.object?.user])).toEqual([["added", "ann"], ["added", "bob"]]);
    const ann = await withStore(async (s) => {
      const a = (await s.getInstance("ann"))!;
      await s.updateInstance(a.id, { status: "stopped" });
      await s.createInstance(instance("cat"));
      await s.updateLabels("bob", { set: { plan: "pro" } });
      return a;
    });
    await until(() => w.events().length >= 5);
    await withStore(async (s) => s.deleteInstance(ann.id));
    await until(() => w.events().some((e) => e.type === "deleted"));
    expect(await w.stop()).toBe(0);
    const changes = w.events().slice(2).map((e) => [e.type, e.key === ann.id ? "ann" : e.object?.user, e.object?.status ?? null, e.object?.labels ?? null]);
    expect(changes).toEqual([
      ["modified", "ann", "stopped", {}],
      ["modified", "bob", "stopped", { plan: "pro" }],
      ["added", "cat", "running", {}],
      ["deleted", "ann", null, null],
    ]);
  });

  it("status --watch: the report first, then each change; bad combinations are exit 2", async () => {
    const w = startWatch(["status", "bob", "--watch", "--interval", "200ms"]);
    await until(() => w.events().length >= 1);
    await withStore(async (s) => s.updateLabels("bob", { set: { cohort: "beta" } }));
    await until(() => w.events().length >= 2);
    expect(await w.stop()).toBe(0);
    expect(w.events().map((e) => [e.type, e.key, (e.object as { labels: unknown }).labels])).toEqual([
      ["added", "bob", { plan: "pro" }], ["modified", "bob", { plan: "pro", cohort: "beta" }],
    ]);
    for (const [args, error] of [
      [["list", "--watch", "-o", "csv"], "Error: --watch prints a live table or NDJSON change events, not csv"],
      [["list", "--interval", "5s"], "Error: --interval goes with --watch"],
      [["list", "--watch", "--refresh"], "Error: --watch reads state; with --refresh it would call every provider each time"],
      [["status", "bob", "-w", "--interval", "10ms"], "Error: --interval must be at least 200ms"],
    ] as const) {
      const r = await runCli([...args], { env: home.env });
      expect([r.code, r.stderr.split("\n")[0]]).toEqual([2, error]);
    }
  });
});

describe("--watch on a terminal (tmux)", () => {
  /** The binary in a tmux window `width` columns wide; the shell says EXIT=<code> after it. */
  function start(name: string, args: string[], width: number): void {
    const env = Object.entries({ ...home.env, TERM: "xterm-256color" }).map(([k, v]) => `${k}=${quote(v)}`).join(" ");
    const command = `trap : INT; env -i ${env} ${quote(process.execPath)} ${quote(BIN)} ${args.map(quote).join(" ")}; echo EXIT=$?; sleep 600`;
    tmux("new-session", "-d", "-s", name, "-x", String(width), "-y", "12", command);
  }
  const screen = (name: string): string[] => tmux("capture-pane", "-p", "-t", name, "-S", "-2000").split("\n");
  /** The window's rows once one matches; on failure, the error shows the window. */
  const waitFor = (name: string, re: RegExp): Promise<string[]> =>
    until(() => {
      const now = screen(name);
      return now.some((l) => re.test(l)) ? now : undefined;
    }, 20_000).catch((e: unknown) => {
      throw new Error(`${String(e)}; waiting for ${re} in:\n${screen(name).join("\n")}`);
    });

  it("list --watch redraws in place, fits the window, shows changes, and Ctrl-C leaves the last frame with exit 0", async () => {
    start("list", ["list", "--watch", "--interval", "200ms", "--columns", "user,status,labels"], 50);
    await waitFor("list", /^USER\s+STATUS\s+LABELS$/);
    // Another operator adds a user, then labels it: each shows in a later frame.
    await withStore(async (s) => s.createInstance(instance("dan")));
    await waitFor("list", /^dan\s+running\s+-$/);
    await withStore(async (s) => s.updateLabels("dan", { set: { plan: "team" } }));
    await waitFor("list", /^dan\s+running\s+plan=team$/);
    tmux("send-keys", "-t", "list", "C-c");
    const rows = await waitFor("list", /EXIT=/);
    // The terminal echoes ^C in front of what the shell prints next.
    expect(rows.find((l) => l.includes("EXIT="))?.replace("^C", "")).toBe("EXIT=0");
    // One frame on screen and in the scrollback: one title, one header, and no line wider than the window.
    expect(rows.filter((l) => l.startsWith("automna list · every 0.2s")).length).toBe(1);
    expect(rows.filter((l) => l.startsWith("USER")).length).toBe(1);
    expect(rows.filter((l) => /^dan\s+running/.test(l))).toEqual(["dan    running   plan=team"]);
    expect(rows.every((l) => [...l].length <= 50)).toBe(true);
  });

  it("status --watch on a 30-column window cuts lines rather than wrapping them", async () => {
    start("status", ["status", "dan", "--watch", "--interval", "200ms"], 30);
    await waitFor("status", /^labels:/);
    tmux("send-keys", "-t", "status", "C-c");
    const rows = await waitFor("status", /EXIT=/);
    // The terminal echoes ^C in front of what the shell prints next.
    expect(rows.find((l) => l.includes("EXIT="))?.replace("^C", "")).toBe("EXIT=0");
    expect(rows.filter((l) => l.startsWith("user:")).length).toBe(1);
    expect(rows.filter((l) => l.endsWith("…")).length).toBeGreaterThan(0);
  });
});
