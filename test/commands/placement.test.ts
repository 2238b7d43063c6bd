/**
 * provision --provider auto against the sandbox with per-provider account limits: the policy's
 * entries in order, a provider limit hit mid-run moving the rest of the run on (no orphan, no user
 * twice), max per entry from state, cheapest first, and the dry run's landing and price.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeHome, runCli } from "../helpers/cli.js";
import { startFleetSandbox, type FleetSandbox } from "../helpers/fleet-sandbox.js";

interface Row { user: string; provider: string; region: string }
interface Result { user: string; result: string; provider: string; region: string }

let fs: FleetSandbox;
beforeAll(async () => {
  fs = await startFleetSandbox({ limits: { hetzner: 3, digitalocean: 2 }, addressBase: "127.153" });
});
afterAll(async () => {
  await fs?.close();
});

const POLICY = "hetzner:fsn1:cx22,digitalocean:fra1:s-1vcpu-2gb,fly:ams:shared-cpu-1x-2gb:max=3";

describe("placement policy", () => {
  const home = makeHome();
  afterAll(() => home.cleanup());
  const run = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: fs.env(home, { AUTOMNA_PLACEMENT: POLICY, ...extra }) });

  it("shows where each user would land and at what price, first with room or cheapest first", async () => {
    const dry = await run(["provision", "p1", "p2", "--provider", "auto", "--dry-run", "--json"]);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = dry.json<{ plan: { user: string; provider: string; region: string; monthlyPrice: number; why: string }[] }>().plan;
    expect(plan.map((p) => [p.user, p.provider, p.region])).toEqual([["p1", "hetzner", "fsn1"], ["p2", "hetzner", "fsn1"]]);
    expect(plan[0]!.monthlyPrice).toBeGreaterThan(0);
    expect(plan[0]!.why).toBe("placement entry 1 (first with room)");

    const cheapest = await run(["provision", "p1", "--provider", "auto", "--placement", "cheapest", "--dry-run", "--json"], { AUTOMNA_PLACEMENT: "fly:ams,hetzner:fsn1:cx22" });
    const first = cheapest.json<{ plan: { provider: string; monthlyPrice: number }[] }>().plan[0]!;
    const flyPrice = (await run(["provision", "p1", "--provider", "auto", "--dry-run", "--json"], { AUTOMNA_PLACEMENT: "fly:ams" })).json<{ plan: { monthlyPrice: number }[] }>().plan[0]!.monthlyPrice;
    expect(first.provider).toBe("hetzner");
    expect(first.monthlyPrice).toBeLessThan(flyPrice);

    const none = await run(["provision", "p1", "--provider", "auto"], { AUTOMNA_PLACEMENT: "" });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--provider auto needs a placement policy");
  });

  it("fills the entries in order, moving on at each provider's account limit, with no orphan and no user twice", async () => {
    const users = Array.from({ length: 9 }, (_, i) => `pl-${i}`);
    const made = await run(["provision", ...users, "--provider", "auto", "--concurrency", "4", "--json"]);
    expect(made.code, made.stderr).toBe(3);
    const results = made.json<{ results: Result[] }>().results;
    const where = (p: string) => results.filter((r) => r.result === "created" && r.provider === p).length;
    // Hetzner's account takes 3 servers, DigitalOcean's 2 droplets, Fly's entry 3 users: the ninth has no room.
    expect([where("hetzner"), where("digitalocean"), where("fly")]).toEqual([3, 2, 3]);
    const failed = results.filter((r) => r.result === "failed");
    expect(failed).toHaveLength(1);
    expect(made.stderr).toContain("no placement entry has room");

    // No orphan: the provider holds exactly what state holds; no user twice.
    const rows = (await run(["list", "-o", "json"])).json<Row[]>();
    expect(rows.map((r) => r.user).sort()).toEqual(users.filter((u) => u !== failed[0]!.user).sort());
    expect((await fs.api("hetzner", "GET", "/servers")).body.servers).toHaveLength(3);
    expect((await fs.api("digitalocean", "GET", "/v2/droplets")).body.droplets).toHaveLength(2);
    // Where each user is and why, as list shows it.
    const status = await run(["status", rows.find((r) => r.provider === "fly")!.user, "--json"]);
    expect(status.json<{ instance: { meta: { placement: { entry: string; why: string } } } }>().instance.meta.placement).toEqual({
      entry: "fly:ams", why: expect.stringMatching(/^placement entry 3: hetzner:fsn1 full \(.*limit.*\), digitalocean:fra1 full \(.*droplet limit.*\)$/),
    });
  });
  it("takes --region (keeps that region's entries), --size (replaces the entry's) and --secret; cheapest compares EUR and USD at pricing.eurUsd", async () => {
    // Fly's entry without its max (the test before filled it).
    const open = { AUTOMNA_PLACEMENT: "hetzner:fsn1:cx22,digitalocean:fra1:s-1vcpu-2gb,fly:ams:shared-cpu-1x-2gb" };
    const dry = async (args: string[], extra: Record<string, string> = {}) => run(["provision", "q1", "--provider", "auto", "--dry-run", "--json", ...args], { ...open, ...extra });
    const plan = (r: Awaited<ReturnType<typeof dry>>) => r.json<{ plan: { provider: string; region: string; size: string; currency: string; monthlyPrice: number }[]; total: { currency: string } }>();
    const inAms = await dry(["--region", "ams"]);
    expect(inAms.code, inAms.stderr).toBe(0);
    expect(plan(inAms).plan.map((p) => [p.provider, p.region])).toEqual([["fly", "ams"]]);
    const nowhere = await dry(["--region", "nbg1"]);
    expect([nowhere.code, nowhere.stderr.split("\n")[0]]).toEqual([2, 'Error: no placement entry is in region "nbg1"']);

    const bigger = await dry(["--region", "fsn1", "--size", "cx32"]);
    expect(bigger.code, bigger.stderr).toBe(0);
    expect(plan(bigger).plan[0]).toMatchObject({ provider: "hetzner", size: "cx32" });
    const everywhere = await dry(["--size", "cx32"]);
    expect(everywhere.code).toBe(2);
    expect(everywhere.stderr).toContain("--size cx32 applies to every placement entry, and entry digitalocean:fra1 cannot take it");

    // Hetzner bills in EUR, Fly in USD: at a (made-up) 1 EUR = 100 USD, Fly is the cheaper one.
    const mixed = { AUTOMNA_PLACEMENT: "hetzner:fsn1:cx22,fly:ams" };
    const usual = plan(await dry(["--placement", "cheapest"], mixed)).plan[0]!;
    const dear = plan(await dry(["--placement", "cheapest"], { ...mixed, AUTOMNA_EUR_USD: "100" })).plan[0]!;
    expect([usual.provider, usual.currency, dear.provider, dear.currency]).toEqual(["hetzner", "EUR", "fly", "USD"]);

    const noWait = await run(["provision", "q1", "--provider", "auto", "--secret", "API_KEY", "--no-wait"], { ...open, API_KEY: "sk-auto-secret-0123456789" });
    expect(noWait.code).toBe(2);
    expect(noWait.stderr).toContain("--secret needs the machine up (placement entry hetzner:fsn1");
    const secret = "sk-auto-secret-0123456789";
    const made = await run(["provision", "q1", "--provider", "auto", "--region", "ams", "--secret", "API_KEY", "--json"], { ...open, API_KEY: secret });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout.includes(secret) || made.stderr.includes(secret)).toBe(false);
    const secrets = (await fs.api("fly", "GET", "/v1/apps/automna-q1/secrets?show_secrets=true")).body as { secrets: { name: string; value: string }[] };
    expect(secrets.secrets.map((x) => [x.name, x.value])).toEqual([["API_KEY", secret]]);
  });
});
