/**
 * Issue #11's scenarios tried as an operator would, through the built binary against the
 * sandbox: a closed output pipe mid-provision, a `--secret` whose variable is missing in a CI job,
 * and control sequences in a provider's error body, an agent's log line, remote command output
 * and a provider-side user id (clean on a terminal-bound run, intact in --json).
 */
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessWorld, hostKeyOf, provision, provisionFly, type AccessWorld } from "../access/helpers.js";
import { BIN } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";

const HETZNER = ["--provider", "hetzner", "--region", "fsn1", "--size", "cx22"];
/** What a hostile string carries: retitle the window, clear the screen, a hidden hyperlink, a CR. */
const EVIL = "\u001b]0;pwned\u0007\u001b[2J\u001b]8;;http://x.test\u001b\\link\u001b]8;;\u001b\\\r";
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

let w: AccessWorld;
beforeAll(async () => {
  w = await accessWorld();
  await provision(w, "hetzner", ["alice", "bob"]);
  await provisionFly(w, ["flo"]);
});
afterAll(async () => {
  await w?.cleanup();
});

/** The binary with stdin from /dev/null (a CI job), stdout and stderr captured as text. */
const automna = (args: string[], extra: Record<string, string> = {}) =>
  execa(process.execPath, [BIN, ...args], { env: { ...w.env, ...extra }, extendEnv: false, reject: false, stdin: "ignore", timeout: budget(QUIET_MS.binaryRun) });

const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;

async function instance(user: string): Promise<{ status: string; resources: Record<string, string> } | undefined> {
  const rows = JSON.parse((await automna(["list", "--json"])).stdout) as { user: string; status: string; resources: Record<string, string> }[];
  return rows.find((r) => r.user === user);
}

async function hetznerServers(user: string): Promise<number> {
  const res = await fetch(`${w.env.AUTOMNA_HETZNER_URL}/servers?label_selector=automna.user=${user}`, { headers: { authorization: `Bearer ${w.env.HCLOUD_TOKEN}` } });
  return ((await res.json()) as { servers: unknown[] }).servers.length;
}

describe("a closed output pipe mid-provision", () => {
  it("`automna provision d3 2>&1 | head -1` ends 141 with the lease released, and the same command resumes it", async () => {
    // The create answers late, so the reader is long gone when the next progress line is written.
    w.sb.setFaults({ rules: [{ kind: "latency", provider: "hetzner", method: "POST", path: "/v1/servers", latencyMs: 2000, count: 1 }] });
    const piped = await execa("bash", ["-o", "pipefail", "-c", `${q(process.execPath)} ${q(BIN)} provision d3 ${HETZNER.join(" ")} 2>&1 | head -1`], { env: w.env, extendEnv: false, reject: false, timeout: budget(QUIET_MS.binaryRun) });
    w.sb.setFaults({});
    expect(piped.exitCode).toBe(141);
    expect(piped.stdout).toBe("d3: creating");
    // Nothing holds d3, and it is not left looking busy: a failed row a re-run resumes.
    expect(JSON.parse((await automna(["lock", "list", "--json"])).stdout)).toEqual([]);
    expect((await instance("d3"))?.status).toBe("failed");
    const again = await automna(["provision", "d3", ...HETZNER, "--json"]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).results[0]).toMatchObject({ user: "d3", result: "resumed", status: "running" });
    expect(await hetznerServers("d3")).toBe(1);
  });
});

describe("a --secret with no value off a terminal", () => {
  it("env set: exit 2 and nothing changed; --allow-empty-secret sets the empty value on purpose", async () => {
    // A Fly user: its secrets are the app's, read back through the API.
    const secrets = async (): Promise<Record<string, string>> => {
      const res = await fetch(`${w.env.AUTOMNA_FLY_URL}/v1/apps/automna-flo/secrets?show_secrets=true`, { headers: { authorization: `Bearer ${w.env.FLY_API_TOKEN}` } });
      return Object.fromEntries(((await res.json()) as { secrets: { name: string; value: string }[] }).secrets.map((x) => [x.name, x.value]));
    };
    expect(await secrets()).toEqual({});
    const refused = await automna(["env", "set", "flo", "--secret", "MISSING"]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toBe([
      "Error: no value for secret MISSING: $MISSING is unset or empty and stdin gave none; nothing was changed",
      "Hint: export MISSING=... or pipe the value on stdin; --allow-empty-secret sets an empty value on purpose",
    ].join("\n"));
    // An empty variable is no value either.
    expect((await automna(["env", "set", "flo", "--secret", "MISSING"], { MISSING: "" })).exitCode).toBe(2);
    expect(await secrets()).toEqual({});

    const meant = await automna(["env", "set", "flo", "--secret", "MISSING", "--allow-empty-secret"]);
    expect(meant.exitCode, meant.stderr).toBe(0);
    expect(await secrets()).toEqual({ MISSING: "" });
  });

  it("provision: exit 2 before anything is made", async () => {
    const r = await automna(["provision", "e1", ...HETZNER, "--secret", "MISSING2"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("Error: no value for secret MISSING2: $MISSING2 is unset or empty and stdin gave none; nothing was changed");
    expect(await instance("e1")).toBeUndefined();
    expect(await hetznerServers("e1")).toBe(0);
  });
});

describe("control sequences from providers and agents", () => {
  it("a provider's error body: clean on stderr, intact in --json", async () => {
    const rule = { kind: "error" as const, provider: "hetzner" as const, method: "POST", path: "/v1/servers", status: 422, message: `bad things${EVIL} happened`, count: 1 };
    w.sb.setFaults({ rules: [rule] });
    const human = await automna(["provision", "esc1", ...HETZNER]);
    w.sb.setFaults({ rules: [rule] });
    const json = await automna(["provision", "esc1", ...HETZNER, "--json"]);
    w.sb.setFaults({});
    expect(human.exitCode).toBe(2);
    expect(human.stderr).toContain("bad thingslink happened");
    expect(human.stderr).not.toMatch(CONTROL);
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(json.stdout).error.message).toContain(`bad things${EVIL} happened`);
  });

  it("an agent's log line: clean in plain and prefixed output, intact in --json", async () => {
    let since = "";
    for (const user of ["alice", "bob"]) {
      const { key } = await hostKeyOf(w, user);
      const entry = await w.sb.simHost(key)!.emitLog(`hello${EVIL} from ${user}`);
      since ||= entry.time;
    }
    // The agents keep logging: from the first hostile line on.
    const plain = await automna(["logs", "alice", "--since", since]);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stdout).toContain("hellolink from alice");
    const both = await automna(["logs", "alice", "bob", "--since", since, "--timestamps"]);
    expect(both.stdout).toMatch(/bob\s+\| \S+ hellolink from bob/);
    for (const out of [plain.stdout, both.stdout]) expect(out).not.toMatch(CONTROL);
    const json = await automna(["logs", "alice", "--since", since, "--json"]);
    const lines = json.stdout.split("\n").map((l) => JSON.parse(l) as { line: string });
    const mine = lines.map((l) => l.line).filter((l) => l.startsWith("hello"));
    expect(mine).toHaveLength(1);
    expect(mine[0]!.startsWith(`hello${EVIL} from alice seq=`)).toBe(true);
  });

  it("exec: prefixed lines clean, --json intact; ssh -- cmd passes the bytes through as they are", async () => {
    const printf = ["--", "printf", q("out\\033]0;pwned\\007\\033[2Jput\\n")];
    const human = await automna(["exec", "alice", "bob", ...printf]);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout.split("\n").sort()).toEqual(["alice | output", "bob   | output"]);
    const json = await automna(["exec", "alice", "--json", ...printf]);
    expect(JSON.parse(json.stdout)[0].stdout).toBe("out\u001b]0;pwned\u0007\u001b[2Jput\n");
    const raw = await automna(["ssh", "alice", ...printf]);
    expect(raw.stdout).toBe("out\u001b]0;pwned\u0007\u001b[2Jput");
  });

  it("doctor: a provider-side user id that is not one is reported, never adopted; its table cell is clean", async () => {
    const fly = async (path: string, body: unknown) => {
      const res = await fetch(`${w.env.AUTOMNA_FLY_URL}${path}`, { method: "POST", headers: { authorization: `Bearer ${w.env.FLY_API_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      expect(res.status, await res.text()).toBeLessThan(300);
    };
    const bad = `mallory-${EVIL}`;
    await fly("/v1/apps", { name: "automna-mallory", org_slug: "personal" });
    await fly("/v1/apps/automna-mallory/machines", {
      region: "ams", config: { image: "ghcr.io/automna/agent:1", guest: { cpu_kind: "shared", cpus: 1, memory_mb: 2048 }, metadata: { automna_managed: "true", automna_user: bad } },
    });
    const table = await automna(["doctor", "--provider", "fly", "--fix", "--yes"]);
    expect(table.exitCode).toBe(1);
    expect(table.stdout).toMatch(/^invalid\s+mallory-link\s+fly\s+automna-marked resource whose user id is not valid .*failed: not fixable by automna: the user id is invalid$/m);
    expect(table.stdout + table.stderr).not.toMatch(CONTROL);
    const json = JSON.parse((await automna(["doctor", "--provider", "fly", "--json"])).stdout) as { drift: { kind: string; user: string }[] };
    expect(json.drift).toEqual([expect.objectContaining({ kind: "invalid", user: bad })]);
    const rows = JSON.parse((await automna(["list", "--json"])).stdout) as { user: string }[];
    expect(rows.map((r) => r.user).filter((u) => u.startsWith("mallory"))).toEqual([]);
  });
});
