/**
 * The fleet commands end to end against the sandbox, per provider: provision, list, status,
 * list --refresh, destroy, doctor (an orphan made through the provider API, a resource deleted
 * behind automna's back, an instance powered off), and a bulk provision of 50 users. One sandbox
 * for the file; one home (state and config) per provider, its tests in order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeHome, runCli } from "../helpers/cli.js";
import {
  PROVIDERS, countAtProvider, deleteBehindBack, makeOrphan, placementFlags, powerOffBehindBack, startFleetSandbox, until, type FleetSandbox,
} from "../helpers/fleet-sandbox.js";

interface Row { user: string; provider: string; status: string; region: string; size: string; monthlyPrice: number | null; currency: string | null; resources: Record<string, string>; addresses: Record<string, string> }
interface Drift { kind: string; user: string; detail: string; fixed?: string }

let fs: FleetSandbox;
beforeAll(async () => {
  fs = await startFleetSandbox();
});
afterAll(async () => {
  await fs?.close();
});

describe.each(PROVIDERS)("fleet on $id", (p) => {
  const home = makeHome();
  afterAll(() => home.cleanup());
  const run = (args: string[], extra: Record<string, string> = {}, stdin?: string) => runCli(args, { env: fs.env(home, extra), ...(stdin === undefined ? {} : { stdin }) });
  const rows = async (): Promise<Row[]> => (await run(["list", "--provider", p.id, "-o", "json"])).json<Row[]>();
  const doctor = async (...args: string[]) => {
    const r = await run(["doctor", "--provider", p.id, "--json", ...args]);
    return { code: r.code, stderr: r.stderr, drift: r.json<{ drift: Drift[] }>().drift };
  };

  it("provisions, lists, shows status, refreshes and destroys", async () => {
    const made = await run(["provision", "alice", "bob", ...placementFlags(p), "--json"]);
    expect(made.stderr).toContain("2 created, 0 adopted or resumed, 0 already there, 0 failed");
    expect(made.code).toBe(0);
    const report = made.json<{ results: { user: string; result: string; status: string; monthlyPrice: number }[] }>();
    expect(report.results.map((r) => [r.user, r.result, r.status])).toEqual([["alice", "created", "running"], ["bob", "created", "running"]]);

    const again = await run(["provision", "alice", ...placementFlags(p), "--json"]);
    expect(again.code).toBe(0);
    expect(again.json<{ results: { result: string }[] }>().results[0]!.result).toBe("exists");
    expect(await countAtProvider(fs, p, "alice")).toBe(1);

    const listed = await rows();
    expect(listed.map((r) => [r.user, r.provider, r.region, r.size, r.status])).toEqual([
      ["alice", p.id, p.region, p.size, "running"], ["bob", p.id, p.region, p.size, "running"],
    ]);
    expect(listed[0]!.monthlyPrice).toBeGreaterThan(0);

    // A machine the provider reports running boots its agent a moment later (as a real one does).
    await fs.sandbox.settled();
    const status = await run(["status", "alice", "--json"]);
    expect(status.code).toBe(0);
    const s = status.json<{ live: { status: string; region: string }; health: { ok: boolean; url: string }; usage: { kind: string; end: string | null }[]; instance: { resources: Record<string, string> } }>();
    expect(s.live).toMatchObject({ status: "running", region: p.region });
    if (p.addressed) {
      expect(s.health.ok).toBe(true);
      expect(s.health.url).toMatch(/^http:\/\/127\.77\.\d+\.\d+:8080\/healthz$/);
    } else expect(s.health).toBeNull();
    expect(s.usage.map((u) => [u.kind, u.end])).toContainEqual(["server", null]);

    const refreshed = await run(["list", "--refresh", "--provider", p.id, "-o", "json"]);
    expect(refreshed.code).toBe(0);
    expect(refreshed.stderr).toContain(`refreshed ${p.id}: 0 updated, 0 not found`);
    expect(refreshed.json<Row[]>().map((r) => r.status)).toEqual(["running", "running"]);

    const gone = await run(["destroy", "alice", "--yes", "--json"]);
    expect(gone.code).toBe(0);
    const out = gone.json<{ user: string; result: string; removed: string[] }[]>()[0]!;
    expect(out.result).toBe("destroyed");
    const kinds = out.removed.map((r) => r.split(" ")[0]);
    // What each provider removes, in the order it needs.
    const removedKinds: Partial<Record<typeof p.id, string[]>> = { fly: ["machine", "volume", "app"], hetzner: ["server"], digitalocean: ["droplet"], koyeb: ["service", "volume", "app"] };
    expect(kinds).toEqual(removedKinds[p.id]);
    expect(await countAtProvider(fs, p, "alice")).toBe(0);
    const twice = await run(["destroy", "alice", "--yes", "--json"]);
    expect(twice.json<{ result: string }[]>()[0]!.result).toBe("absent");
    expect((await rows()).map((r) => r.user)).toEqual(["bob"]);

    // Destroying needs a yes: without a terminal, --yes.
    const ask = await run(["destroy", "bob"]);
    expect(ask.code).toBe(2);
    expect(ask.stderr).toContain("pass --yes");
  });

  it("doctor finds an orphan, a missing and a mismatched instance, exits 1, and --fix repairs them after asking", async () => {
    await makeOrphan(fs, p, "orphan-1");
    expect((await run(["provision", "carol", "dave", ...placementFlags(p)])).code).toBe(0);
    const byUser = new Map((await rows()).map((r) => [r.user, r]));
    await deleteBehindBack(fs, p, byUser.get("carol")!.resources);
    await powerOffBehindBack(fs, p, byUser.get("dave")!.resources);
    await until(async () => (await doctor()).drift.some((d) => d.user === "dave" && d.detail.includes("provider stopped")));

    const found = await doctor();
    expect(found.code).toBe(1);
    expect(found.drift.map((d) => `${d.kind}:${d.user}`).sort()).toEqual(["mismatch:dave", "missing:carol", "orphan:orphan-1"]);
    expect(found.drift.find((d) => d.user === "dave")!.detail).toBe("status: state running, provider stopped");

    // --fix changes state and providers: it asks, and without a terminal it needs --yes.
    const refused = await run(["doctor", "--provider", p.id, "--fix"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("Fix 3 drift items: no answer, and prompts are off");
    expect(refused.stderr).toContain("Hint: pass --yes");
    const declined = await runCli(["doctor", "--provider", p.id, "--fix"], { env: fs.env(home), tty: true, answers: { "Fix 3 drift items?": false } });
    expect(declined.code).toBe(130);
    expect(declined.prompts).toEqual(["Fix 3 drift items?"]);
    expect((await doctor()).drift).toHaveLength(3);

    const fixed = await doctor("--fix", "--yes");
    expect(fixed.code).toBe(0);
    expect(fixed.drift.map((d) => `${d.user}: ${d.fixed}`).sort()).toEqual([
      "carol: dropped from state", "dave: state updated from the provider", "orphan-1: adopted into state",
    ]);
    const clean = await doctor();
    expect(clean).toMatchObject({ code: 0, drift: [] });
    expect((await rows()).map((r) => [r.user, r.status])).toEqual([["bob", "running"], ["dave", "stopped"], ["orphan-1", "running"]]);
  });

  it("provisions 50 users in one run", async () => {
    const users = Array.from({ length: 50 }, (_, i) => `bulk-${String(i).padStart(2, "0")}`);
    const from = fs.sandbox.requests().length;
    const r = await run(["provision", "--from-file", "-", ...placementFlags(p), "--concurrency", "16", "--json"], {}, `${users.join("\n")}\n`);
    expect(r.code).toBe(0);
    const report = r.json<{ summary: Record<string, number>; results: { user: string; status: string }[] }>();
    expect(report.summary).toEqual({ created: 50, adopted: 0, resumed: 0, exists: 0, failed: 0 });
    expect(report.results.every((x) => x.status === "running")).toBe(true);
    // Paced to the provider's budget (scaled with the sandbox's): never refused for rate.
    const log = fs.requestsSince(from, p.id);
    expect(log.filter((q) => q.status === 429)).toEqual([]);
    expect(log.filter((q) => q.method === "POST" && q.path.match(p.createPath))).toHaveLength(50);
    const listed = await rows();
    expect(listed.filter((x) => x.user.startsWith("bulk-")).map((x) => x.user)).toEqual(users);
    if (p.addressed) expect(new Set(listed.map((x) => x.addresses.ipv4 ?? x.addresses.private)).size).toBe(listed.length);
    // The provider agrees: one resource per user, nothing to reconcile.
    expect((await doctor()).drift).toEqual([]);
  });
});

describe("lists past one page", () => {
  // Last in the file: its --remove-orphans clears every DigitalOcean droplet this home does not know.
  it("DigitalOcean: follows links.pages to every droplet (200 a page); doctor --remove-orphans clears them", async () => {
    const home = makeHome();
    try {
      // 210 automna-marked droplets made outside automna, ten per request, all orphans to this home.
      for (let batch = 0; batch < 21; batch++) {
        const names = Array.from({ length: 10 }, (_, i) => `automna-pg-${batch * 10 + i}`);
        const r = await fs.api("digitalocean", "POST", "/v2/droplets", { names, region: "fra1", size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64", tags: ["automna"] });
        expect(r.status).toBe(202);
      }
      const droplets = async (): Promise<number> => ((await fs.admin("GET", "/world")).body as { digitalocean: { droplets: unknown[] } }).digitalocean.droplets.length;
      const total = await droplets();
      expect(total).toBeGreaterThan(200);
      const r = await runCli(["doctor", "--provider", "do", "--json"], { env: fs.env(home) });
      expect(r.code).toBe(1);
      const drift = r.json<{ drift: Drift[] }>().drift;
      expect(drift.filter((d) => d.kind === "orphan" && d.user.startsWith("pg-"))).toHaveLength(210);
      expect(drift).toHaveLength(total);
      const fixed = await runCli(["doctor", "--provider", "do", "--fix", "--remove-orphans", "--yes", "--json"], { env: fs.env(home) });
      expect(fixed.code).toBe(0);
      expect(fixed.json<{ fixed: number }>().fixed).toBe(total);
      expect(await droplets()).toBe(0);
      expect((await runCli(["list", "-o", "json"], { env: fs.env(home) })).json()).toEqual([]);
    } finally {
      home.cleanup();
    }
  });
});
