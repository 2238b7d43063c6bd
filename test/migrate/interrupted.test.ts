import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MigrateEvent } from "../../src/migrate/types.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import { BIN } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli, type RunResult } from "../helpers/cli.js";
import { expectCarriedOver, hostDir, instances, migrateWorld, PLACES, provision, type MigrateWorld } from "./world.js";

/**
 * #11 items 4 and 5, as an operator meets them: a migration stopped part-way (Ctrl-C after the
 * freeze, its lease broken by `lock break`) says what happened and what to run next, and leaves
 * the user served; `destroy` refuses a user with an unfinished migration; `migrate rollback`
 * ends one whose source and target are already gone; `migrate abandon` closes one.
 */
let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.86", seedBytes: 256 * 1024, writeEveryMs: 100 });
  await provision(w, "hetzner", ["cc-1", "lb-1", "gone-1", "ab-1", "bk-1"]);
}, budget(2 * QUIET_MS.test));
afterAll(async () => {
  await w?.cleanup();
});

/**
 * `migrate <user>` in-process with `-o ndjson`; `act` runs synchronously the moment an event
 * matches `when` (so the next step has not begun), e.g. a Ctrl-C or a `lock break` by another process.
 */
async function migrateUntil(user: string, when: (e: MigrateEvent) => boolean, act: (abort: () => void) => void): Promise<RunResult> {
  const controller = new AbortController();
  let fired = false;
  return runCli(["migrate", user, "--from", "hetzner", "--to", "digitalocean", "--yes", "-o", "ndjson"], {
    env: w.env,
    signal: controller.signal,
    setup: (ctx) => {
      const write = ctx.io.ndjson.bind(ctx.io);
      ctx.io.ndjson = (value: unknown): void => {
        write(value);
        if (!fired && (value as { type?: string }).type === "step" && when(value as MigrateEvent)) {
          fired = true;
          act(() => controller.abort());
        }
      };
    },
  });
}

const at = (step: string, phase: MigrateEvent["phase"]) => (e: MigrateEvent): boolean => e.step === step && e.phase === phase;

interface StatusRow { op: string; user: string; status: string; step: string | null; next: string | null }
async function statusOf(user: string): Promise<StatusRow> {
  const list = await runCli(["migrate", "status", "-o", "json"], { env: w.env });
  return list.json<StatusRow[]>().find((o) => o.user === user)!;
}

async function serves(user: string): Promise<{ provider: string; ok: boolean }> {
  const status = await runCli(["status", user, "--json"], { env: w.env });
  const s = status.json<{ instance: { provider: string }; health: { ok: boolean } }>();
  return { provider: s.instance.provider, ok: s.health.ok };
}

describe("a migration interrupted before the switch", () => {
  it("Ctrl-C after the freeze: exit 130 naming the operation, step and next command; the source serves again; destroy refuses (exit 4); resume finishes", async () => {
    const res = await migrateUntil("cc-1", at("freeze", "done"), (abort) => abort());
    expect(res.code, res.stderr).toBe(130);
    const { op } = await statusOf("cc-1");
    expect(res.stderr).toContain(`Error: cc-1: migration ${op} interrupted at freeze (Ctrl-C or SIGTERM); cc-1's agent serves on Hetzner Cloud again (the source was restarted)`);
    expect(res.stderr).toContain(`Hint: next: automna migrate resume ${op} (it freezes and copies again), or automna migrate rollback ${op}`);
    expect(await serves("cc-1")).toEqual({ provider: "hetzner", ok: true });
    // Nobody drives it now: interrupted, with the command that does.
    expect(await statusOf("cc-1")).toMatchObject({ status: "interrupted", next: `automna migrate resume ${op}, or automna migrate rollback ${op}` });

    const destroy = await runCli(["destroy", "cc-1", "--yes"], { env: w.env });
    expect(destroy.code).toBe(4);
    expect(destroy.stderr).toContain(`Error: cc-1 has an unfinished migration ${op} (running at freeze)`);
    expect(destroy.stderr).toContain(`Hint: end it first: automna migrate resume ${op}, automna migrate rollback ${op}, or automna migrate abandon ${op}`);
    expect((await instances(w, "cc-1")).map((r) => [r.provider, r.role])).toEqual([["hetzner", "live"], ["digitalocean", "target"]]);

    const resumed = await runCli(["migrate", "resume", op, "--yes", "--json"], { env: w.env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const rows = await instances(w, "cc-1");
    const live = rows.find((r) => r.role === "live")!;
    const retired = rows.find((r) => r.role === "retired")!;
    expect([live.provider, retired.provider]).toEqual(["digitalocean", "hetzner"]);
    expect(expectCarriedOver(`${hostDir(w, retired)}/data`, `${hostDir(w, live)}/data`)).toEqual([]);
    // The freeze was taken back when it stopped, and taken again by the resume.
    const detail = (await runCli(["migrate", "status", op, "--json"], { env: w.env })).json<{ status: string; journal: { step: string; phase: string }[] }>();
    expect(detail.status).toBe("succeeded");
    expect(detail.journal.filter((e) => e.step === "freeze").map((e) => e.phase)).toEqual(["intent", "done", "undone", "intent", "done"]);
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));

  it("lock break mid-migration: the broken holder restarts the source and exits 4 with the next command; resume finishes", async () => {
    const env = { ...w.env };
    const res = await migrateUntil("lb-1", at("freeze", "done"), () => {
      // Another operator, another process, while this one is between steps.
      const leases = JSON.parse(execFileSync(process.execPath, [BIN, "lock", "list", "-o", "json"], { env, stdio: "pipe" }).toString()) as { user: string; leaseId: string }[];
      execFileSync(process.execPath, [BIN, "lock", "break", "lb-1", "--lease", leases.find((l) => l.user === "lb-1")!.leaseId, "--yes"], { env, stdio: "pipe" });
    });
    expect(res.code, res.stderr).toBe(4);
    const { op } = await statusOf("lb-1");
    expect(res.stderr).toMatch(new RegExp(`Error: lb-1: migration ${op} interrupted at \\S+ \\(its lease on lb-1 was lost \\(broken, or expired while it could not be renewed\\)\\); lb-1's agent serves on Hetzner Cloud again \\(the source was restarted\\)`));
    expect(res.stderr).toContain(`Hint: next: automna migrate resume ${op}`);
    expect(await serves("lb-1")).toEqual({ provider: "hetzner", ok: true });
    expect((await statusOf("lb-1")).status).toBe("interrupted");
    // A new migration is refused while this one is unfinished, naming how to end it.
    const again = await runCli(["migrate", "lb-1", "--from", "hetzner", "--to", "digitalocean", "--yes"], { env: w.env });
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(`automna migrate abandon ${op}`);
    const resumed = await runCli(["migrate", "resume", op, "--yes", "--json"], { env: w.env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await serves("lb-1")).toEqual({ provider: "digitalocean", ok: true });
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration + 2 * QUIET_MS.binaryRun));
});

describe("ending an operation whatever is left", () => {
  it("migrate rollback ends a migration whose source and target are already gone, says what it could not restore, and the user can start over", async () => {
    const res = await migrateUntil("gone-1", at("warm-restore", "done"), (abort) => abort());
    expect(res.code).toBe(130);
    const { op } = await statusOf("gone-1");
    // Both removed behind automna's back (at the providers and from state), as the old destroy did.
    const rows = await instances(w, "gone-1");
    const source = rows.find((r) => r.role === "live")!;
    const target = rows.find((r) => r.role === "target")!;
    for (const path of [`/hetzner/servers/${source.resources.server}`, `/digitalocean/droplets/${target.resources.droplet}`]) {
      expect((await fetch(`${w.sb.urls.admin}${path}`, { method: "DELETE" })).status).toBe(200);
    }
    const store = await SqliteStore.open(w.home.statePath);
    for (const row of await store.listInstances({ user: "gone-1" })) if (row.role === "live") await store.deleteInstance(row.id);
    await store.close();

    const rollback = await runCli(["migrate", "rollback", op, "--yes"], { env: w.env });
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(rollback.stderr).toContain(`${op}: rolled back, but the source instance of gone-1 is gone from state: there is no agent to restart (automna provision gone-1 makes a new one)`);
    expect((await statusOf("gone-1")).status).toBe("rolled_back");
    expect(await instances(w, "gone-1")).toEqual([]);

    await provision(w, "hetzner", ["gone-1"]);
    const again = await runCli(["migrate", "gone-1", "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], { env: w.env });
    expect(again.code, again.stderr).toBe(0);
  }, budget(QUIET_MS.test + 3 * QUIET_MS.migration));

  it("migrate abandon asks (--yes off a terminal), shows what it leaves, closes the operation; the user can be migrated again", async () => {
    const res = await migrateUntil("ab-1", at("warm-restore", "done"), (abort) => abort());
    expect(res.code).toBe(130);
    const { op } = await statusOf("ab-1");
    expect(res.stderr).toContain("ab-1's agent still serves on Hetzner Cloud (it was not stopped)");
    expect(res.stderr).toContain(`Hint: next: automna migrate resume ${op}, or automna migrate rollback ${op}\n`);

    const asked = await runCli(["migrate", "abandon", op], { env: w.env });
    expect(asked.code).toBe(2);
    expect(asked.stderr).toMatch(new RegExp(`^Error: Abandon migration ${op} of ab-1 \\(running at warm-restore\\)\\? .*It leaves: ab-1's target on digitalocean \\(droplet \\d+\\) stays there`));
    expect(asked.stderr).toContain("Hint: pass --yes");
    expect((await statusOf("ab-1")).status).toBe("interrupted");

    const abandoned = await runCli(["migrate", "abandon", op, "--yes", "--json"], { env: w.env });
    expect(abandoned.code, abandoned.stderr).toBe(0);
    const out = abandoned.json<{ status: string; leftovers: { target: { provider: string; resources: { droplet: string } } | null; sourceStopped: unknown; archives: string[] } }>();
    expect(out.status).toBe("abandoned");
    expect(out.leftovers.target?.provider).toBe("digitalocean");
    expect(out.leftovers.sourceStopped).toBeNull();
    expect(out.leftovers.archives).toEqual([`migrations/ab-1/${op}/warm.tar`, `migrations/ab-1/${op}/final.tar`]);
    expect((await statusOf("ab-1")).status).toBe("abandoned");
    // State forgot the target; doctor finds it at the provider.
    expect((await instances(w, "ab-1")).map((r) => r.role)).toEqual(["live"]);
    const doctor = await runCli(["doctor", "--json"], { env: w.env });
    const drift = doctor.json<{ drift: { kind: string; user: string; resources: Record<string, string> }[] }>().drift;
    expect(drift.filter((d) => d.user === "ab-1")).toEqual([expect.objectContaining({ kind: "orphan", resources: expect.objectContaining({ droplet: out.leftovers.target!.resources.droplet }) })]);
    // Abandoning twice says the same and changes nothing.
    expect((await runCli(["migrate", "abandon", op, "--yes"], { env: w.env })).code).toBe(0);

    const again = await runCli(["migrate", "ab-1", "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], { env: w.env });
    expect(again.code, again.stderr).toBe(0);
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));
});

/** Runs a command in-process and presses Ctrl-C the moment its progress (board or task line) shows `text`. */
async function ctrlCAt(argv: string[], text: RegExp): Promise<RunResult> {
  const controller = new AbortController();
  return runCli(argv, {
    env: w.env,
    signal: controller.signal,
    setup: (ctx) => {
      const open = ctx.io.board.bind(ctx.io);
      ctx.io.board = () => {
        const board = open();
        const update = board.update.bind(board);
        board.update = (item: string, line: string): void => {
          update(item, line);
          if (text.test(line)) controller.abort();
        };
        return board;
      };
      const start = ctx.io.task.bind(ctx.io);
      ctx.io.task = (first: string) => {
        const task = start(first);
        const update = task.update.bind(task);
        task.update = (line: string): void => {
          update(line);
          if (text.test(line)) controller.abort();
        };
        return task;
      };
    },
  });
}

describe("backup, restore and provision interrupted", () => {
  it("Ctrl-C while a backup archives the frozen /data: the agent is started again, the message says so and what to run", async () => {
    const res = await ctrlCAt(["backup", "bk-1"], /^bk-1: archiving \/data$/);
    expect(res.code).toBe(130);
    expect(res.stderr).toMatch(/Error: bk-1: backup bk_[a-z0-9]+ interrupted while starting the agent \(Ctrl-C or SIGTERM\); bk-1's agent serves\n/);
    expect(res.stderr).toMatch(/Hint: next: automna backup bk-1 \(nothing of bk_[a-z0-9]+ was kept\)/);
    expect(await serves("bk-1")).toEqual({ provider: "hetzner", ok: true });
    expect((await runCli(["backup", "bk-1", "--json"], { env: w.env })).code).toBe(0);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("Ctrl-C while provisioning: who has no agent yet, and the command that resumes it", async () => {
    const [region, size] = PLACES.hetzner;
    const flags = ["--provider", "hetzner", "--region", region, "--size", size];
    const res = await ctrlCAt(["provision", "pi-1", ...flags], /^creating$/);
    expect(res.code).toBe(130);
    expect(res.stderr).toContain("Error: provision interrupted (Ctrl-C or SIGTERM): no agent serves yet for pi-1\n");
    expect(res.stderr).toContain("Hint: next: automna provision pi-1 with the same flags resumes them (what was made is found by its marker, never made twice)");
    const again = await runCli(["provision", "pi-1", ...flags, "--json"], { env: w.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json<{ results: { result: string; status: string }[] }>().results[0]).toMatchObject({ result: "resumed", status: "running" });
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});
