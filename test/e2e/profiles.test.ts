import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import { automna } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { makeHome, type Sandbox } from "../helpers/cli.js";

/**
 * #11 item 1, through the built binary: the sandbox profile has its own fleet and price file, and
 * an instance made through the sandbox is never acted on through another endpoint (a "real" API
 * here: a loopback server that records what reaches it).
 */
let h: Sandbox;
let sandboxState: string;
let real: Server;
let realUrl: string;
const reached: { method: string; path: string }[] = [];

beforeAll(async () => {
  h = makeHome();
  const up = await automna(["sandbox", "up", "--detach", "--port", "0", "--action-delay", "20", "--json"], h.env, { quietMs: QUIET_MS.migration });
  expect(up.exitCode, String(up.stderr)).toBe(0);
  sandboxState = join((JSON.parse(String(up.stdout)) as { dir: string }).dir, "state.db");
  // Hetzner as the real API would answer a list: nothing of automna's there.
  real = createServer((req, res) => {
    reached.push({ method: req.method ?? "", path: req.url ?? "" });
    req.resume();
    res.writeHead(req.method === "GET" ? 200 : 500, { "content-type": "application/json" });
    res.end(JSON.stringify({ servers: [], meta: { pagination: { page: 1, per_page: 50, previous_page: null, next_page: null, last_page: 1, total_entries: 0 } } }));
  });
  await new Promise<void>((ok) => real.listen(0, "127.0.0.1", ok));
  realUrl = `http://127.0.0.1:${(real.address() as { port: number }).port}/v1`;
}, budget(QUIET_MS.test + QUIET_MS.migration));
afterAll(async () => {
  await automna(["sandbox", "down"], h.env);
  await new Promise((ok) => real?.close(ok));
  h?.cleanup();
});

/** The default profile with a "real" Hetzner token and endpoint, reading the sandbox's database. */
const realEnv = (): Record<string, string> => ({ ...h.env, HCLOUD_TOKEN: "real-token-0123456789", AUTOMNA_HETZNER_URL: realUrl });

describe("state belongs to a profile", () => {
  it("a sandbox user is not in the default fleet; a sandbox instance is never acted on through another endpoint; pricing refresh writes the sandbox's file", async () => {
    const made = await automna(["--profile", "sandbox", "provision", "p1", "--json"], h.env, { quietMs: QUIET_MS.migration });
    expect(made.exitCode, String(made.stderr)).toBe(0);
    expect(JSON.parse(String((await automna(["list", "--json"], h.env)).stdout))).toEqual([]);
    const listed = JSON.parse(String((await automna(["--profile", "sandbox", "list", "--json"], h.env)).stdout)) as { user: string }[];
    expect(listed.map((r) => r.user)).toEqual(["p1"]);

    // The sandbox's database read by the default profile, whose Hetzner is the "real" one.
    const refused = await automna(["--state", sandboxState, "destroy", "p1", "--yes"], realEnv());
    expect(refused.exitCode).toBe(2);
    expect(String(refused.stderr)).toMatch(/\nError: p1's Hetzner Cloud instance was made through http:\/\/127\.0\.0\.1:\d+\/v1; profile default reaches http:\/\/127\.0\.0\.1:\d+\/v1: refusing to act on it there\nHint: run it with the profile it was made with \(automna --profile sandbox \.\.\.\); nothing was sent$/);
    expect(reached).toEqual([]);

    // Recorded before instances kept their endpoint: bound only where it is found, after asking.
    const store = await SqliteStore.open(sandboxState);
    const row = (await store.getInstance("p1"))!;
    const { api: _api, ...meta } = row.meta;
    await store.updateInstance(row.id, { meta });
    await store.close();
    const unbound = await automna(["--state", sandboxState, "destroy", "p1", "--yes"], realEnv());
    expect(unbound.exitCode).toBe(2);
    expect(String(unbound.stderr)).toContain(`has no automna instance of p1 with those ids: it was made through another endpoint (a sandbox?) or is gone`);
    expect(reached.every((r) => r.method === "GET")).toBe(true);
    expect(JSON.parse(String((await automna(["--profile", "sandbox", "list", "--json"], h.env)).stdout))).toHaveLength(1);

    const refresh = await automna(["--profile", "sandbox", "pricing", "refresh", "--provider", "hetzner", "--json"], h.env, { quietMs: QUIET_MS.migration });
    expect(refresh.exitCode, String(refresh.stderr)).toBe(0);
    expect((JSON.parse(String(refresh.stdout)) as { path: string }).path).toBe(join(h.dir, "data", "automna", "profiles", "sandbox", "prices.json"));
    expect(existsSync(join(h.dir, "data", "automna", "prices.json"))).toBe(false);

    // Through the profile it was made with, the unbound instance is found, bound and destroyed.
    const destroyed = await automna(["--profile", "sandbox", "destroy", "p1", "--yes", "--json"], h.env, { quietMs: QUIET_MS.migration });
    expect(destroyed.exitCode, String(destroyed.stderr)).toBe(0);
    expect(reached.filter((r) => r.method !== "GET")).toEqual([]);
  }, budget(QUIET_MS.test + 10 * QUIET_MS.binaryRun));

  it("an instance made for one account (Fly organization) is refused, exit 2 naming both, through another on the same endpoint", async () => {
    const made = await automna(["--profile", "sandbox", "provision", "f1", "--provider", "fly", "--region", "ams", "--size", "shared-cpu-1x-2gb", "--json"], h.env, { quietMs: QUIET_MS.migration });
    expect(made.exitCode, String(made.stderr)).toBe(0);
    const before = reached.length;
    const refused = await automna(["--profile", "sandbox", "destroy", "f1", "--yes"], { ...h.env, AUTOMNA_FLY_ORG: "other-org" });
    expect(refused.exitCode).toBe(2);
    expect(String(refused.stderr)).toContain("Error: f1's Fly.io instance was made through Fly.io account personal; profile sandbox reaches account other-org: refusing to act on it there");
    expect(reached.length).toBe(before);
    expect(JSON.parse(String((await automna(["--profile", "sandbox", "list", "--json"], h.env)).stdout))).toEqual([expect.objectContaining({ user: "f1", provider: "fly" })]);
  }, budget(QUIET_MS.test + 4 * QUIET_MS.binaryRun));
});
