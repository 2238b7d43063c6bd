/**
 * The fleet commands when providers misbehave, through the sandbox's fault injection: 429
 * storms, 5xx on reads, creates that commit and then lose their answer, a 422 naming a field, a
 * wrong token, an API that cannot be reached; and bad input refused before anything is sent.
 * One sandbox for the file; each test runs the three providers at once (fault rules are per
 * provider), each in its own home.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FaultRule } from "../../src/sandbox/index.js";
import { makeHome, runCli, type RunResult, type Sandbox as Home } from "../helpers/cli.js";
import { PROVIDERS, countAtProvider, placementFlags, startFleetSandbox, type FleetSandbox, type ProviderCase } from "../helpers/fleet-sandbox.js";

interface Row { user: string; status: string; resources: Record<string, string> }

let fs: FleetSandbox;
const homes = new Map<string, Home>();
beforeAll(async () => {
  fs = await startFleetSandbox();
  for (const p of PROVIDERS) homes.set(p.id, makeHome());
  // Every home starts with one running instance, so "state unchanged" has something to keep.
  await each(async (p) => expect((await run(p, ["provision", "base", ...placementFlags(p)])).code).toBe(0));
});
afterAll(async () => {
  await fs?.close();
  for (const h of homes.values()) h.cleanup();
});

function run(p: ProviderCase, args: string[], extra: Record<string, string> = {}): Promise<RunResult> {
  return runCli(args, { env: fs.env(homes.get(p.id)!, extra) });
}
/** Runs `fn` for the three providers at once; waits for all before failing, so none outlives its test. */
async function each(fn: (p: ProviderCase) => Promise<void>): Promise<void> {
  const settled = await Promise.allSettled(PROVIDERS.map(fn));
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
/** What state says of each instance (not its write counters: a refused destroy writes its intent and takes it back). */
async function rows(p: ProviderCase): Promise<Row[]> {
  return (await run(p, ["list", "-o", "json"])).json<Row[]>().map(({ user, status, resources }) => ({ user, status, resources }));
}
/** Fault rules for every provider at once, replacing any in force. */
function faults(rule: (p: ProviderCase) => FaultRule | FaultRule[]): void {
  fs.sandbox.setFaults({ rules: PROVIDERS.flatMap((p) => rule(p)) });
}

describe("provider faults", () => {
  it("a 429 storm: provisioning completes, the client waits as told and never runs into the real limit", async () => {
    faults((p) => ({ kind: "rate_limit", provider: p.id, count: 2 }));
    const from = fs.sandbox.requests().length;
    await each(async (p) => {
      const r = await run(p, ["provision", "storm", ...placementFlags(p), "--json"]);
      expect(r.code).toBe(0);
      expect(r.json<{ results: { result: string; status: string }[] }>().results[0]).toMatchObject({ result: "created", status: "running" });
      const log = fs.requestsSince(from, p.id);
      // Only the storm's two 429s: the client's own pacing never ran into the sandbox's limiter.
      const limited = log.map((q, i) => ({ q, i })).filter(({ q }) => q.status === 429);
      expect(limited).toHaveLength(2);
      // Each refused request was sent again only after the wait the answer asked for:
      // Retry-After / RateLimit-Reset (>= 1 s) on Hetzner and DigitalOcean, X-RateLimit-Reset on Koyeb; Fly names no
      // header, so a jittered backoff.
      for (const { q, i } of limited) {
        const again = log.slice(i + 1).find((x) => x.method === q.method && x.path === q.path && x.query === q.query)!;
        expect(Date.parse(again.at) - Date.parse(q.at)).toBeGreaterThanOrEqual(p.id === "fly" ? 100 : 900);
      }
    });
    fs.sandbox.setFaults({});
  });

  it("5xx on GETs are retried: list --refresh succeeds", async () => {
    faults((p) => ({ kind: "error", provider: p.id, method: "GET", status: 503, count: 2 }));
    const from = fs.sandbox.requests().length;
    await each(async (p) => {
      const r = await run(p, ["list", "--refresh", "-o", "json"]);
      expect(r.code).toBe(0);
      expect(r.stderr).not.toContain("not refreshed");
      expect(r.stderr).toContain("0 updated, 0 not found");
      const log = fs.requestsSince(from, p.id);
      const failed = log.filter((q) => q.status === 503);
      expect(failed).toHaveLength(2);
      // The same request was sent again and answered.
      for (const f of failed) expect(log.some((q) => q.method === "GET" && q.path === f.path && q.status === 200 && q.at >= f.at)).toBe(true);
    });
    fs.sandbox.setFaults({});
  });

  it.each([
    ["commits then answers 504", { kind: "commit_then_error", status: 504 }],
    ["commits then resets the connection", { kind: "reset", commit: true }],
  ] as const)("a create that %s: the lookup finds it, no second POST, exactly one resource", async (_name, fault) => {
    const user = fault.kind === "reset" ? "reset-user" : "lost-504";
    faults((p) => ({ ...fault, provider: p.id, method: "POST", path: p.createFault, count: 1 }));
    const from = fs.sandbox.requests().length;
    await each(async (p) => {
      const r = await run(p, ["provision", user, ...placementFlags(p), "--json"]);
      expect(r.code).toBe(0);
      expect(r.json<{ results: { result: string; status: string }[] }>().results[0]).toMatchObject({ result: "adopted", status: "running" });
      const posts = fs.requestsSince(from, p.id).filter((q) => q.method === "POST" && p.createPath.test(q.path));
      expect(posts.map((q) => q.status)).toEqual([fault.kind === "reset" ? 0 : 504]);
      expect(await countAtProvider(fs, p, user)).toBe(1);
      expect((await rows(p)).find((x) => x.user === user)?.status).toBe("running");
    });
    fs.sandbox.setFaults({});
  });

  it("Fly: a /wait that times out (408) is asked again until the machine has started", async () => {
    const fly = PROVIDERS.find((p) => p.id === "fly")!;
    // Its own sandbox with slow boots, so the client is still waiting when the 408s come.
    const slow = await startFleetSandbox({ actionDelayMs: 1500 });
    const home = makeHome();
    try {
      slow.sandbox.setFaults({ rules: [{ kind: "error", provider: "fly", method: "GET", path: "/v1/apps/*/machines/*/wait", status: 408, count: 2 }] });
      const r = await runCli(["provision", "slow-boot", ...placementFlags(fly), "--json"], { env: slow.env(home) });
      expect(r.code).toBe(0);
      expect(r.json<{ results: { status: string }[] }>().results[0]!.status).toBe("running");
      const waits = slow.requestsSince(0, "fly").filter((q) => q.path.endsWith("/wait")).map((q) => q.status);
      expect(waits).toEqual([408, 408, 200]);
    } finally {
      await slow.close();
      home.cleanup();
    }
  });

  it("a 422 for the size names the field; nothing half-made is forgotten", async () => {
    const messages: Record<string, string> = {
      hetzner: "server type cx22 is not available in location fsn1",
      digitalocean: "size: s-1vcpu-2gb is not available in region fra1",
      fly: "invalid config.guest.memory_mb 2048: not available in region ams",
      koyeb: "instance type micro is not available in region fra",
    };
    faults((p) => ({ kind: "error", provider: p.id, method: "POST", path: p.createFault, status: 422, field: p.sizeField, message: messages[p.id]! }));
    await each(async (p) => {
      const r = await run(p, ["provision", "badsize", ...placementFlags(p)]);
      // The provider refused the input: exit 2, like input automna itself refuses.
      expect(r.code).toBe(2);
      const first = r.stderr.split("\n").find((l) => l.startsWith("Error:"))!;
      expect(first).toContain("failed with 422");
      expect(r.stderr).toContain(p.id === "hetzner" ? "server_type: server type cx22 is not available" : messages[p.id]);
      expect(r.stderr).toContain(p.sizeField);
      const row = (await rows(p)).find((x) => x.user === "badsize");
      // Hetzner and DigitalOcean made nothing: no row. Fly and Koyeb made the app and volume
      // first: the row stays, failed, holding their ids, so a re-run resumes and destroy cleans up.
      if (p.id === "fly") expect(row).toMatchObject({ status: "failed", resources: { app: "automna-badsize" } });
      else if (p.id === "koyeb") expect(row).toMatchObject({ status: "failed", resources: { appName: "automna-badsize" } });
      else expect(row).toBeUndefined();
    });
    fs.sandbox.setFaults({});
    const fly = PROVIDERS.find((p) => p.id === "fly")!;
    const gone = await run(fly, ["destroy", "badsize", "--yes", "--json"]);
    expect(gone.json<{ result: string; removed: string[] }[]>()[0]).toMatchObject({ result: "destroyed", removed: [expect.stringMatching(/^volume /), "app automna-badsize"] });
    const koyeb = PROVIDERS.find((p) => p.id === "koyeb")!;
    const koyebGone = await run(koyeb, ["destroy", "badsize", "--yes", "--json"]);
    expect(koyebGone.json<{ result: string; removed: string[] }[]>()[0]).toMatchObject({ result: "destroyed", removed: [expect.stringMatching(/^volume /), expect.stringMatching(/^app /)] });
  });

  it("a wrong token is an auth error naming the variable, never the token; state unchanged", async () => {
    await each(async (p) => {
      const before = await rows(p);
      const wrong = { [p.tokenEnv]: "wrong-token-0000000000" };
      const r = await run(p, ["provision", "erin", ...placementFlags(p)], wrong);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^Error: .* rejected the API token \(401 /m);
      expect(r.stderr).toContain(`Hint: check ${p.tokenEnv}`);
      const refresh = await run(p, ["list", "--refresh", "-o", "json"], wrong);
      expect(refresh.code).toBe(0);
      expect(refresh.stderr).toContain(`Warning: ${p.id}: not refreshed:`);
      for (const out of [r.stderr, refresh.stderr, refresh.stdout]) expect(out).not.toContain("wrong-token");
      expect(await rows(p)).toEqual(before);
    });
  });

  it("an API that cannot be reached: a clear error, nothing changed", async () => {
    await each(async (p) => {
      const before = await rows(p);
      const dead = { [p.urlEnv]: p.id === "hetzner" ? "http://127.0.0.1:1/v1" : "http://127.0.0.1:1" };
      const made = await run(p, ["provision", "frank", ...placementFlags(p)], dead);
      expect(made.code).toBe(1);
      expect(made.stderr).toMatch(/^Error: cannot reach the .* API at http:\/\/127\.0\.0\.1:1(\/v1)? \(ECONNREFUSED\)$/m);
      expect(made.stderr).toContain("nothing was changed");
      // base was made through the sandbox's endpoint: another one is refused before anything is sent (#11.1).
      const destroy = await run(p, ["destroy", "base", "--yes"], dead);
      expect(destroy.code).toBe(2);
      expect(destroy.stderr).toContain("refusing to act on it there");
      const doctor = await run(p, ["doctor"], dead);
      expect(doctor.code).toBe(1);
      expect(doctor.stderr).toContain(`Warning: ${p.id}: not checked: cannot reach the`);
      expect(await rows(p)).toEqual(before);
    });
  });
});

describe("bad input is refused before anything is sent", () => {
  it("an unknown provider, region or size: exit 2 with the valid values, from the provider's own lists", async () => {
    const from = fs.sandbox.requests().length;
    await each(async (p) => {
      const provider = await run(p, ["provision", "gina", "--provider", `${p.id}x`]);
      expect(provider.code).toBe(2);
      expect(provider.stderr).toContain("valid providers: hetzner, fly, digitalocean, do");
      const region = await run(p, ["provision", "gina", "--provider", p.id, "--region", "mars1", "--size", p.size]);
      expect(region.code).toBe(2);
      expect(region.stderr).toMatch(/^Error: unknown .* region "mars1"$/m);
      expect(region.stderr).toMatch(new RegExp(`^Hint: valid regions: .*\\b${p.region}\\b`, "m"));
      const size = await run(p, ["provision", "gina", "--provider", p.id, "--region", p.region, "--size", "huge-9"]);
      expect(size.code).toBe(2);
      expect(size.stderr).toMatch(/^Error: unknown .* size "huge-9"$/m);
      expect(size.stderr).toMatch(new RegExp(`^Hint: valid sizes: .*\\b${p.size}\\b`, "m"));
      expect(fs.requestsSince(from, p.id).filter((q) => q.method !== "GET")).toEqual([]);
      expect((await rows(p)).map((x) => x.user)).not.toContain("gina");
    });
  });
});
