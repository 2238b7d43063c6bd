import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessWorld, provision, type AccessWorld } from "../access/helpers.js";
import { runCli } from "../helpers/cli.js";

// ann, bob and cat on Hetzner, dan on DigitalOcean; labels given at provision time.
let w: AccessWorld;
beforeAll(async () => {
  w = await accessWorld();
  const run = async (args: string[]): Promise<void> => {
    const r = await runCli(args, { env: w.env });
    if (r.code !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  };
  await run(["provision", "ann", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--label", "plan=pro", "--label", "cohort=beta", "--json"]);
  await run(["provision", "bob", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--label", "plan=pro", "--json"]);
  await run(["provision", "cat", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--label", "plan=basic", "--label", "cohort=beta", "--json"]);
  await provision(w, "digitalocean", ["dan"]);
  await w.sb.settled();
});
afterAll(async () => {
  await w?.cleanup();
});

const cli = (args: string[]) => runCli(args, { env: w.env });
const usersOf = (r: { json<T>(): T }): string[] => r.json<{ user: string }[]>().map((x) => x.user);

describe("labels: provision --label, label, list and status", () => {
  it("provision --label stores the labels; list shows them and selects on them with the Kubernetes grammar", async () => {
    const table = await cli(["list", "--columns", "user,labels"]);
    expect(table.stdout.split("\n").map((l) => l.trimEnd())).toEqual(["USER   LABELS", "ann    cohort=beta,plan=pro", "bob    plan=pro", "cat    cohort=beta,plan=basic", "dan    -", ""]);
    const cases: [string, string[]][] = [
      ["plan=pro,cohort!=beta", ["bob"]],
      ["plan==pro", ["ann", "bob"]],
      ["plan in (pro, basic)", ["ann", "bob", "cat"]],
      ["plan notin (pro)", ["cat", "dan"]],
      ["cohort", ["ann", "cat"]],
      ["!cohort", ["bob", "dan"]],
      ["cohort=beta,plan!=pro", ["cat"]],
      ["plan=team", []],
    ];
    for (const [selector, users] of cases) expect([selector, usersOf(await cli(["list", "-l", selector, "-o", "json"]))]).toEqual([selector, users]);
    expect((await cli(["list", "-l", "plan=pro", "-o", "json"])).json<{ labels: Record<string, string> }[]>()[0]!.labels).toEqual({ plan: "pro", cohort: "beta" });
    const status = await cli(["status", "ann"]);
    expect(status.stdout).toMatch(/^labels:\s+cohort=beta,plan=pro$/m);
    expect((await cli(["status", "ann", "--json"])).json<{ labels: unknown }>().labels).toEqual({ plan: "pro", cohort: "beta" });
  });

  it("bad selectors and labels are exit 2, naming what is wrong", async () => {
    const bad = await cli(["list", "-l", "plan in pro"]);
    expect([bad.code, bad.stderr.split("\n")[0]]).toEqual([2, 'Error: -l "plan in pro": "plan in pro" is not a label key']);
    const empty = await cli(["list", "-l", "plan=pro,,x"]);
    expect([empty.code, empty.stderr.split("\n")[0]]).toEqual([2, 'Error: -l "plan=pro,,x": an empty requirement (two commas, or one at an end)']);
    const label = await cli(["provision", "eve", "--provider", "hetzner", "--label", "plan"]);
    expect([label.code, label.stderr.split("\n")[0]]).toEqual([2, 'Error: --label: expected key=value, got "plan"']);
    const value = await cli(["provision", "eve", "--provider", "hetzner", "--label", "plan=a b"]);
    expect([value.code, value.stderr.split("\n")[0]]).toEqual([2, 'Error: --label: "a b" is not a valid value for label plan']);
    expect((await cli(["list", "-o", "json"])).json<unknown[]>()).toHaveLength(4);
  });

  it("label sets and removes (k=v, k-), by name or by selector, prints the result and audits each change", async () => {
    const set = await cli(["label", "dan", "plan=basic", "trial=yes", "-o", "json"]);
    expect(set.code).toBe(0);
    expect(set.json<{ user: string; labels: unknown }[]>().map((l) => [l.user, l.labels])).toEqual([["dan", { plan: "basic", trial: "yes" }]]);
    const removed = await cli(["label", "dan", "trial-"]);
    expect(removed.stdout.split("\n").map((l) => l.trimEnd())).toEqual(["USER   LABELS", "dan    plan=basic", ""]);
    const bySelector = await cli(["label", "-l", "plan=basic", "tier=2", "-o", "json"]);
    expect(usersOf(bySelector)).toEqual(["cat", "dan"]);
    await cli(["label", "-l", "tier", "tier-"]);
    expect((await cli(["label", "cat", "-o", "json"])).json<{ labels: unknown }[]>()[0]!.labels).toEqual({ plan: "basic", cohort: "beta" });
    const audit = await cli(["state", "audit", "--action", "labels.update", "-o", "json"]);
    const rows = audit.json<{ target: string; details: { set: object; remove: string[] } }[]>();
    expect(rows.map((r) => r.target)).toEqual(["ann", "bob", "cat", "dan", "dan", "cat", "dan", "cat", "dan"]);
    expect(rows[4]!.details).toEqual({ set: {}, remove: ["trial"] });
  });

  it("label refuses users without an instance, bad keys and contradictions, changing nothing", async () => {
    const ghost = await cli(["label", "dan", "ghost", "plan=x"]);
    expect([ghost.code, ghost.stderr.split("\n")[0]]).toEqual([2, "Error: ghost has no instance; nothing was labelled"]);
    const key = await cli(["label", "dan", "-plan=x"]);
    expect(key.code).toBe(2);
    const both = await cli(["label", "dan", "plan=x", "plan-"]);
    expect([both.code, both.stderr.split("\n")[0]]).toEqual([2, "Error: label plan is both set and removed"]);
    const mixed = await cli(["label", "dan", "-l", "plan=basic", "plan=x"]);
    expect([mixed.code, mixed.stderr.split("\n")[0]]).toEqual([2, "Error: give user ids, -l or --all, not more than one"]);
    expect((await cli(["label", "dan", "-o", "json"])).json<{ labels: unknown }[]>()[0]!.labels).toEqual({ plan: "basic" });
  });
});

describe("-l and --all on the commands that act on users", () => {
  it("exec -l, --all and --all --provider run on the selected users only", async () => {
    const pro = await cli(["--json", "exec", "-l", "plan=pro", "--", "hostname"]);
    expect(pro.code).toBe(0);
    expect(pro.json<{ user: string; stdout: string }[]>().map((r) => [r.user, r.stdout])).toEqual([["ann", "automna-ann\n"], ["bob", "automna-bob\n"]]);
    expect(usersOf(await cli(["--json", "exec", "--all", "--", "true"]))).toEqual(["ann", "bob", "cat", "dan"]);
    expect(usersOf(await cli(["--json", "exec", "--all", "--provider", "do", "--", "true"]))).toEqual(["dan"]);
    const none = await cli(["exec", "-l", "plan=team", "--", "true"]);
    expect([none.code, none.stderr.split("\n")[0]]).toEqual([2, 'Error: -l "plan=team" matches no user with a live instance; nothing to do']);
    const both = await cli(["exec", "ann", "--all", "--", "true"]);
    expect([both.code, both.stderr.split("\n")[0]]).toEqual([2, "Error: give user ids, -l or --all, not more than one"]);
    const named = await cli(["exec", "ann", "--provider", "hetzner", "--", "true"]);
    expect(named.code).toBe(2);
  });

  it("exec -o yaml prints the results document", async () => {
    const r = await cli(["exec", "-l", "plan=basic", "-o", "yaml", "--", "echo hi"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^- user: cat\n {2}provider: hetzner\n {2}exitCode: 0\n/);
    expect(r.stdout).toMatch(/stdout: .*hi/);
  });

  it("logs -l reads the selected users' logs only (-o ndjson as --json)", async () => {
    const r = await cli(["logs", "-l", "cohort=beta", "--tail", "2", "-o", "ndjson"]);
    expect(r.code).toBe(0);
    const users = new Set(r.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { user: string }).user));
    expect([...users].sort()).toEqual(["ann", "cat"]);
  });

  it("env set -l and env unset -l change the selected users' agents", async () => {
    const set = await cli(["env", "set", "-l", "plan=basic", "--env", "TIER=basic", "--json"]);
    expect(set.code).toBe(0);
    expect(usersOf(set).sort()).toEqual(["cat", "dan"]);
    const names = (await cli(["env", "list", "cat", "-o", "json"])).json<{ name: string }[]>().map((v) => v.name);
    expect(names).toContain("TIER");
    expect((await cli(["env", "list", "ann", "-o", "json"])).json<{ name: string }[]>().map((v) => v.name)).not.toContain("TIER");
    const unset = await cli(["env", "unset", "-l", "plan=basic", "--name", "TIER", "--json"]);
    expect(usersOf(unset).sort()).toEqual(["cat", "dan"]);
  });

  it("migrate -l plans the selected users live on --from", async () => {
    const plan = await cli(["migrate", "-l", "cohort=beta", "--from", "hetzner", "--to", "digitalocean", "--dry-run", "-o", "json"]);
    expect(plan.code).toBe(0);
    expect(plan.json<{ users: { user: string }[] }>().users.map((u) => u.user)).toEqual(["ann", "cat"]);
    const elsewhere = await cli(["migrate", "-l", "plan=basic", "--from", "digitalocean", "--to", "hetzner", "--dry-run", "-o", "json"]);
    expect(elsewhere.json<{ users: { user: string }[] }>().users.map((u) => u.user)).toEqual(["dan"]);
  });

  it("cost-report --by label:plan: spend per plan, each with its margin at its own price", async () => {
    const r = await cli(["cost-report", "--by", "label:plan", "--plan-price", "pro=29,basic=9", "--currency", "EUR", "-o", "json"]);
    expect(r.code).toBe(0);
    const report = r.json<{ by: string; spend: { groups: { key: string; users: number; projectedPerUser: number; planPrice: number | null; margin: number | null }[] } }>();
    expect(report.by).toBe("label:plan");
    const groups = Object.fromEntries(report.spend.groups.map((g) => [g.key, g]));
    expect(Object.keys(groups).sort()).toEqual(["basic", "pro"]);
    expect([groups.pro!.users, groups.basic!.users]).toEqual([2, 2]);
    for (const [plan, price] of [["pro", 29], ["basic", 9]] as const) {
      expect(groups[plan]!.planPrice).toBe(price);
      expect(groups[plan]!.margin).toBeCloseTo(price - groups[plan]!.projectedPerUser, 3);
    }
    const table = await cli(["cost-report", "--by", "label:cohort", "--plan-price", "beta=20"]);
    expect(table.stdout).toMatch(/LABEL:COHORT .*PLAN PRICE\s+MARGIN\s+MARGIN %/);
    expect(table.stdout).toMatch(/^\(none\)/m);
    const named = await cli(["cost-report", "--plan-price", "pro=29"]);
    expect([named.code, named.stderr.split("\n")[0]]).toEqual([2, "Error: --plan-price NAME=PRICE prices the groups of --by label:KEY"]);
  });

  it("list --role and --status retired show a migration's retired source", async () => {
    const { SqliteStore } = await import("../../src/state/sqlite-store.js");
    const store = await SqliteStore.open(w.home.statePath);
    await store.createInstance({
      user: "bob", role: "retired", provider: "fly", region: "ams", size: "shared-cpu-1x-2gb", image: "agent:1",
      resources: { app: "automna-bob-old" }, addresses: {}, status: "stopped", opId: null, meta: {},
    });
    await store.close();
    const retired = await cli(["list", "--status", "retired", "-o", "json"]);
    expect(retired.json<{ user: string; role: string; provider: string }[]>().map((r) => [r.user, r.role, r.provider])).toEqual([["bob", "retired", "fly"]]);
    expect((await cli(["list", "--role", "retired", "-o", "json"])).json()).toEqual(retired.json());
    expect(usersOf(await cli(["list", "--role", "live", "-o", "json"]))).toEqual(["ann", "bob", "cat", "dan"]);
    const role = await cli(["list", "--role", "old"]);
    expect([role.code, role.stderr.split("\n")[0]]).toEqual([2, 'Error: unknown role "old"']);
    const clash = await cli(["list", "--status", "retired", "--role", "live"]);
    expect(clash.code).toBe(2);
  });

  it("backup -l backs up each selected user; destroy -l destroys the selected users", async () => {
    const backup = await cli(["backup", "-l", "plan=pro", "--json"]);
    expect(backup.code).toBe(0);
    // The fleet backup's document: one verified result per selected user.
    const { results } = backup.json<{ results: { user: string; result: string; backup: { key: string } }[] }>();
    expect(results.map((r) => [r.user, r.result])).toEqual([["ann", "verified"], ["bob", "verified"]]);
    expect(results[0]!.backup.key).toContain("ann");
    const gone = await cli(["destroy", "-l", "trial=yes", "--yes"]);
    expect(gone.code).toBe(2);
    await cli(["label", "dan", "trial=yes"]);
    const destroyed = await cli(["destroy", "-l", "trial=yes", "--yes", "--json"]);
    expect(destroyed.code).toBe(0);
    expect(destroyed.json<{ user: string; result: string }[]>().map((d) => [d.user, d.result])).toEqual([["dan", "destroyed"]]);
    expect(usersOf(await cli(["list", "-o", "json"]))).toEqual(["ann", "bob", "bob", "cat"]);
  });

  it("destroy takes the user's labels with their last instance: the same id provisioned again starts without them", async () => {
    await provision(w, "digitalocean", ["eve"]);
    expect((await cli(["label", "eve", "plan=pro", "trial=yes"])).code).toBe(0);
    const destroyed = await cli(["destroy", "eve", "--yes", "--json"]);
    expect(destroyed.code, destroyed.stderr).toBe(0);
    expect(destroyed.json<{ removed: string[] }[]>()[0]!.removed).toEqual(expect.arrayContaining(["label plan=pro", "label trial=yes"]));
    const audit = (await cli(["state", "audit", "--action", "labels.update", "--json"])).json<{ target: string; details: { remove: string[] } }[]>();
    expect(audit.filter((a) => a.target === "eve").map((a) => a.details.remove)).toContainEqual(["plan", "trial"]);
    await provision(w, "digitalocean", ["eve"]);
    expect((await cli(["list", "-l", "plan=pro", "-o", "json"])).json<{ user: string }[]>().map((x) => x.user)).not.toContain("eve");
    const status = (await cli(["status", "eve", "--json"])).json<{ labels?: Record<string, string> }>();
    expect(status.labels ?? {}).toEqual({});
  });
});
