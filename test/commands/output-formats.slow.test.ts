/**
 * One renderer for every command that prints data (#17 item 1): `-o table|json|yaml|ndjson|csv`
 * as fits each, `--columns`, `--no-header`, `--sort`, `--limit` on every list, and every format a
 * command's help lists works. Driven as a user would: the command layer against the sandbox, a
 * real state file, YAML read back with a full YAML parser.
 */
import { load as loadYaml } from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeHome, runCli } from "../helpers/cli.js";
import { startFleetSandbox, type FleetSandbox } from "../helpers/fleet-sandbox.js";

let fs: FleetSandbox;
const home = makeHome();
const run = (args: string[]) => runCli(args, { env: fs.env(home) });

beforeAll(async () => {
  fs = await startFleetSandbox();
  // Three users on two sizes, so sorting by price and by name give different orders.
  expect((await run(["provision", "carol", "alice", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22"])).code).toBe(0);
  expect((await run(["provision", "bob", "--provider", "hetzner", "--region", "nbg1", "--size", "cx32"])).code).toBe(0);
  const { SqliteStore } = await import("../../src/state/sqlite-store.js");
  const store = await SqliteStore.open(home.statePath);
  await store.createOperation({ kind: "migrate", user: "alice", params: { from: "hetzner", to: "fly" }, status: "failed", step: "warm-upload" });
  await store.close();
});
afterAll(async () => {
  await fs?.close();
  home.cleanup();
});

/** Runs a command as JSON and as YAML: both must exit 0 and hold the same document. */
async function sameAsJson(args: string[]): Promise<unknown> {
  const json = await run([...args, "-o", "json"]);
  const yaml = await run([...args, "-o", "yaml"]);
  expect([json.code, yaml.code]).toEqual([0, 0]);
  // Timings, health probes, "now" (a report's end) and usage accrued up to now (serverHours) differ
  // between two runs; everything else is the same document.
  const stable = (doc: unknown): unknown => JSON.parse(JSON.stringify(doc, (k, v: unknown) => {
    if (k === "health" || k === "ms" || k === "serverHours") return undefined;
    return typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v) ? "<time>" : v;
  }));
  expect(stable(loadYaml(yaml.stdout))).toEqual(stable(json.json()));
  return json.json();
}

describe("-o yaml is the JSON document, in YAML", () => {
  it.each([
    [["list"]], [["status", "alice"]], [["config", "list", "--all"]], [["migrate", "status"]], [["version"]],
    [["cost-report", "--compare", "--users", "10", "--ram", "2"]], [["pricing", "list", "--provider", "hetzner"]], [["lock", "list"]], [["doctor"]],
  ])("automna %j -o yaml", async (args) => {
    await sameAsJson(args);
  });

  it("one migration with its journal: json and yaml; csv is refused with a hint (exit 2)", async () => {
    const [op] = (await run(["migrate", "status", "-o", "json"])).json<{ op: string }[]>();
    const detail = await sameAsJson(["migrate", "status", op!.op]);
    expect(detail).toMatchObject({ op: op!.op, status: "failed", step: "warm-upload" });
    const csv = await run(["migrate", "status", op!.op, "-o", "csv"]);
    expect([csv.code, csv.stdout, csv.stderr.split("\n")[0]]).toEqual([2, "", "Error: -o csv is for the list of migrations; use -o json or yaml for one"]);
  });
});

describe("lists sort, limit and choose columns", () => {
  it("--sort by name and descending by price (a number, not its text), --limit after sorting", async () => {
    const byName = await run(["list", "--sort", "user", "-o", "csv", "--columns", "user", "--no-header"]);
    expect(byName.stdout).toBe("alice\r\nbob\r\ncarol\r\n");
    const byPrice = await run(["list", "--sort", "-monthly,user", "--columns", "user,size"]);
    expect(byPrice.stdout.split("\n").map((l) => l.split(/\s+/).slice(0, 2).join(" "))).toEqual(["USER SIZE", "bob cx32", "alice cx22", "carol cx22", ""]);
    const top = await run(["list", "--sort", "-user", "--limit", "2", "-o", "json"]);
    expect(top.json<{ user: string }[]>().map((r) => r.user)).toEqual(["carol", "bob"]);
    const ndjson = await run(["list", "--sort", "user", "--limit", "1", "-o", "ndjson"]);
    expect(ndjson.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { user: string }).user)).toEqual(["alice"]);
  });

  it("a bad --sort or --limit is bad input naming what is valid (exit 2)", async () => {
    const column = await run(["list", "--sort", "colour"]);
    expect([column.code, column.stdout]).toEqual([2, ""]);
    expect(column.stderr).toContain('Error: cannot sort by "colour": no such column');
    expect(column.stderr).toContain("columns: user, provider, region");
    const limit = await run(["list", "--limit", "0"]);
    expect([limit.code, limit.stderr.split("\n")[0]]).toEqual([2, 'Error: --limit must be a whole number from 1 up, got "0"']);
  });

  it("every list takes the same flags: config list, migrate status, state audit, lock list, gc, doctor, env list, pricing list", async () => {
    const config = await run(["config", "list", "--all", "--sort", "-key", "--limit", "3", "-o", "csv", "--columns", "key", "--no-header"]);
    expect(config.code).toBe(0);
    const keys = config.stdout.trim().split("\r\n");
    expect(keys).toHaveLength(3);
    expect([...keys].sort().reverse()).toEqual(keys);
    const audit = await run(["state", "audit", "--sort", "-at", "--limit", "1", "-o", "json"]);
    expect(audit.code).toBe(0);
    expect(audit.json<unknown[]>()).toHaveLength(1);
    const pricing = await run(["pricing", "list", "--provider", "hetzner", "--sort", "-monthly", "--limit", "1", "-o", "json"]);
    expect(pricing.code).toBe(0);
    expect(pricing.json<unknown[]>()).toHaveLength(1);
    for (const args of [["migrate", "status"], ["lock", "list"], ["gc", "--dry-run"], ["doctor"], ["env", "list", "alice"]]) {
      const help = await run([...args, "--help"]);
      for (const flag of ["-o, --output <format>", "--columns <list>", "--no-header", "--sort <fields>", "--limit <n>"]) expect(help.stdout, args.join(" ")).toContain(flag);
    }
  });
});

describe("an option a command lists in its help always works", () => {
  /** Every command and subcommand with the help page it prints. */
  async function pages(): Promise<{ words: string[]; help: string }[]> {
    const found: { words: string[]; help: string }[] = [];
    const visit = async (words: string[]): Promise<void> => {
      const help = (await run([...words, "--help"])).stdout;
      found.push({ words, help });
      // Subcommands are listed under "Commands:", the top-level ones under their groups (Fleet:, ...).
      for (const block of help.split("\n\n")) {
        if (!/^(?:Commands|Fleet|Access|Migration|Cost|State|Setup):\n/.test(block)) continue;
        for (const m of block.matchAll(/^ {2}([a-z-]+)/gm)) if (m[1] !== "help") await visit([...words, m[1]!]);
      }
    };
    await visit([]);
    return found;
  }

  it("the formats listed for -o are exactly those a command accepts, and yaml is one wherever json is", async () => {
    let checked = 0;
    for (const { words, help } of await pages()) {
      const listed = /-o, --output <format>\s+(.+)/.exec(help)?.[1];
      if (!listed || words.length === 0) continue;
      const formats = [...listed.matchAll(/\b(table|json|yaml|ndjson|csv)\b/g)].map((m) => m[1]);
      if (formats.includes("json")) expect(formats, words.join(" ")).toContain("yaml");
      // Required arguments get placeholders: the format is checked before anything runs.
      const args = [...words, ...[...(/^Usage: automna [a-z -]+?\[options\](.*)$/m.exec(help)?.[1] ?? "").matchAll(/<([a-z-]+)(\.\.\.)?>/g)].map(() => "op_0000nothere")];
      // Required options, which commander checks before the command's own checks.
      if (words.join(" ") === "restore") args.push("--from", "bk_0000nothere");
      if (words.join(" ") === "env unset") args.push("--name", "X");
      const bad = await run([...args, "-o", "bogus"]);
      expect([bad.code, bad.stderr.split("\n")[0]], words.join(" ")).toEqual([2, 'Error: unknown output format "bogus"']);
      expect(bad.stderr, words.join(" ")).toContain(`use one of: ${formats.join(", ")}`);
      checked++;
    }
    expect(checked).toBeGreaterThan(15);
  });
});

describe("wording and numbers (#17 item 8)", () => {
  it("status shows hourly prices to four decimals, not every digit a division leaves", async () => {
    const r = await run(["status", "alice"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ 0\.\d{4}\/h +\d+\.\d{2}\/mo +EUR$/m);
    expect(r.stdout).not.toMatch(/\d\.\d{5,}/);
  });

  it("config list --all has the variable and description columns", async () => {
    const r = await run(["config", "list", "--all"]);
    expect(r.stdout.split("\n")[0]!.split(/\s+/)).toEqual(["KEY", "VALUE", "SOURCE", "ENV", "DESCRIPTION"]);
    expect(r.stdout).toMatch(/^hetzner\.token +\*\*\* +env +HCLOUD_TOKEN +Hetzner Cloud API token$/m);
  });

  it("a migration dry run counts users in words and says when moving costs more", async () => {
    const one = await run(["migrate", "bob", "--from", "hetzner", "--to", "fly", "--size", "shared-cpu-2x-4gb", "--dry-run"]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^1 user, .* USD\/month, costing \d+\.\d\d USD\/month more$/m);
  });

  it("doctor with nothing to check is bad input naming what to set (exit 2), not 'no drift across no provider'", async () => {
    const empty = makeHome();
    try {
      const r = await runCli(["doctor"], { env: empty.env });
      expect([r.code, r.stderr.split("\n")[0]]).toEqual([2, "Error: nothing to check: no provider has a token and state holds no instances"]);
      expect(r.stderr).not.toContain("no drift");
    } finally {
      empty.cleanup();
    }
  });
});
