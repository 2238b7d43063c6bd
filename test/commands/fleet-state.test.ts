import { afterEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import type { NewInstance } from "../../src/state/types.js";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

const homes: Sandbox[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) h.cleanup();
});

function row(user: string, over: Partial<NewInstance> = {}): NewInstance {
  return {
    user, role: "live", provider: "hetzner", region: "fsn1", size: "cx22", image: "agent:1", resources: { server: `${user}-1` },
    addresses: { ipv4: "127.77.0.9" }, status: "running", opId: `op_${user}`, meta: { monthlyPrice: 4.29, currency: "EUR" }, ...over,
  };
}

async function seeded(rows: NewInstance[]): Promise<Sandbox> {
  const h = makeHome();
  homes.push(h);
  const store = await SqliteStore.open(h.statePath);
  for (const r of rows) await store.createInstance(r);
  await store.close();
  return h;
}

describe("list (from state)", () => {
  it("filters by provider (alias too), status and region, in every format", async () => {
    const h = await seeded([row("ann"), row("bob", { provider: "digitalocean", region: "fra1", size: "s-1vcpu-2gb", status: "stopped", meta: {} }), row("cat", { region: "nbg1" })]);
    const all = await runCli(["list", "-o", "json"], { env: h.env });
    expect(all.code).toBe(0);
    expect(all.json<{ user: string; monthlyPrice: number | null }[]>().map((r) => [r.user, r.monthlyPrice])).toEqual([["ann", 4.29], ["bob", null], ["cat", 4.29]]);
    const doOnly = await runCli(["list", "--provider", "do", "--columns", "user,status", "--no-header", "-o", "csv"], { env: h.env });
    expect(doOnly.stdout).toBe("bob,stopped\r\n");
    const region = await runCli(["list", "--region", "nbg1", "-o", "ndjson"], { env: h.env });
    expect(region.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { user: string }).user)).toEqual(["cat"]);
    const table = await runCli(["list", "--status", "running", "--columns", "user,provider,monthly"], { env: h.env });
    expect(table.stdout).toBe("USER   PROVIDER    MONTHLY\nann    hetzner    4.29 EUR\ncat    hetzner    4.29 EUR\n");
  });

  it("rejects an unknown status or provider with exit 2", async () => {
    const h = await seeded([]);
    const status = await runCli(["list", "--status", "sleeping"], { env: h.env });
    expect(status.code).toBe(2);
    expect(status.stderr).toContain("statuses: provisioning, starting, running");
    expect((await runCli(["list", "--provider", "aws"], { env: h.env })).code).toBe(2);
  });

  it("--refresh with no token says which provider it could not read", async () => {
    const h = await seeded([row("ann")]);
    const r = await runCli(["list", "--refresh", "-o", "json"], { env: h.env });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Warning: hetzner: not refreshed: no token (set HCLOUD_TOKEN)");
    expect(r.json<{ status: string }[]>()[0]!.status).toBe("running");
  });
});

describe("status, destroy, doctor without provider access", () => {
  it("status of a user without an instance is exit 2", async () => {
    const h = await seeded([]);
    const r = await runCli(["status", "zed"], { env: h.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Error: zed has no instance");
  });

  it("status shows state, says why it was not checked live, and reports the health probe", async () => {
    const h = await seeded([row("ann", { addresses: { ipv4: "127.0.0.1" } })]);
    const r = await runCli(["status", "ann", "--json"], { env: { ...h.env, AUTOMNA_HEALTH_PORT: "9" } });
    expect(r.code).toBe(0);
    const s = r.json<{ liveError: string; health: { ok: boolean; url: string; error: string }; instance: { provider: string } }>();
    expect(s.instance.provider).toBe("hetzner");
    expect(s.liveError).toBe("no HCLOUD_TOKEN set");
    expect(s.health).toMatchObject({ ok: false, url: "http://127.0.0.1:9/healthz", error: "ECONNREFUSED" });
  });

  it("status counts cost so far as cost-report does: each calendar month capped at the monthly price", async () => {
    const h = await seeded([row("ann")]);
    const store = await SqliteStore.open(h.statePath);
    const [inst] = await store.listInstances({ user: "ann" });
    // September and October whole: 1464 hours at 0.006 would be 8.78; each month is capped at 3.79.
    await store.openUsage({ user: "ann", instanceId: inst!.id, provider: "hetzner", size: "cx22", region: "fsn1", kind: "server", quantity: 1, hourlyPrice: 0.006, monthlyPrice: 3.79, currency: "EUR", start: "2026-09-01T00:00:00.000Z" });
    await store.closeUsage(inst!.id, "2026-11-01T00:00:00.000Z");
    await store.close();
    const r = await runCli(["status", "ann", "--json"], { env: { ...h.env, AUTOMNA_HEALTH_PORT: "9" } });
    expect(r.json<{ costSoFar: number }>().costSoFar).toBeCloseTo(7.58, 10);
    const report = await runCli(["cost-report", "--from", "2026-09-01", "--to", "2026-11-01", "--currency", "EUR", "--json"], { env: h.env });
    expect(JSON.stringify(report.json())).toContain("7.58");
  });

  it("destroy of users with no instance is a no-op success, and needs --yes otherwise", async () => {
    const h = await seeded([row("ann")]);
    const absent = await runCli(["destroy", "zed", "--json"], { env: h.env });
    expect(absent.code).toBe(0);
    expect(absent.json<{ user: string; result: string }[]>()).toEqual([{ user: "zed", result: "absent", provider: null, removed: [], error: null }]);
    const ask = await runCli(["destroy", "ann"], { env: h.env });
    expect(ask.code).toBe(2);
    expect(ask.stderr).toContain("pass --yes");
  });

  it("destroy of a user another operation holds is exit 4, naming the holder", async () => {
    const h = await seeded([row("ann")]);
    const store = await SqliteStore.open(h.statePath);
    await store.acquireLease("ann", { who: "mia", operation: "migrate" }, 60_000);
    await store.close();
    const r = await runCli(["destroy", "ann", "--yes"], { env: h.env });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("ann is locked by mia (migrate)");
  });

  it("doctor with nothing to check says so (exit 2) rather than report no drift", async () => {
    const h = await seeded([]);
    const r = await runCli(["doctor", "--json"], { env: h.env });
    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({ error: { code: "usage", message: "nothing to check: no provider has a token and state holds no instances" } });
  });

  it("doctor exits 1 when a provider in use cannot be checked", async () => {
    const h = await seeded([row("ann", { provider: "fly", region: "ams", size: "shared-cpu-1x-2gb" })]);
    const r = await runCli(["doctor"], { env: h.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Warning: fly: not checked: no token (set FLY_API_TOKEN)");
  });
});
