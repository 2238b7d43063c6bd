import { afterEach, describe, expect, it } from "vitest";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

const homes: Sandbox[] = [];
function home(): Sandbox {
  const h = makeHome({ AUTOMNA_IMAGE: "ghcr.io/automna/agent:1" });
  homes.push(h);
  return h;
}
afterEach(() => {
  for (const h of homes.splice(0)) h.cleanup();
});

describe("provision: input checked before anything is sent", () => {
  it("rejects an unknown provider with exit 2, listing the valid ones", async () => {
    const h = home();
    const r = await runCli(["provision", "alice", "--provider", "hetzner2", "--dry-run"], { env: h.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Error: unknown provider "hetzner2"');
    expect(r.stderr).toContain("valid providers: hetzner, fly, digitalocean, do");
  });

  it("rejects an unknown region and size with exit 2, listing valid values", async () => {
    const h = home();
    const region = await runCli(["provision", "alice", "--provider", "hetzner", "--region", "mars1", "--dry-run"], { env: h.env });
    expect(region.code).toBe(2);
    expect(region.stderr).toContain('unknown Hetzner Cloud region "mars1"');
    expect(region.stderr).toContain("valid regions: fsn1, nbg1, hel1, ash, hil, sin");
    const size = await runCli(["provision", "alice", "--provider", "do", "--region", "fra1", "--size", "s-1vcpu-3gb", "--dry-run"], { env: h.env });
    expect(size.code).toBe(2);
    expect(size.stderr).toContain('unknown DigitalOcean size "s-1vcpu-3gb"');
    expect(size.stderr).toContain("valid sizes: s-1vcpu-512mb-10gb, s-1vcpu-1gb, s-1vcpu-2gb");
  });

  it("rejects bad user ids and an empty user list", async () => {
    const h = home();
    expect((await runCli(["provision", "Alice!", "--provider", "fly", "--dry-run"], { env: h.env })).code).toBe(2);
    // Not a hostname label or a Fly app name (automna-<user>): ids end with a letter or digit.
    const dash = await runCli(["provision", "bob-", "--provider", "fly", "--dry-run"], { env: h.env });
    expect([dash.code, dash.stderr]).toEqual([2, `Error: invalid user id "bob-": user ids are 1-41 characters of a-z, 0-9 and '-', starting and ending with a letter or digit\n`]);
    const none = await runCli(["provision", "--provider", "fly", "--dry-run"], { env: h.env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no users given");
  });

  it("refuses --secret with --no-wait on VM providers: the secrets go over SSH once the machine is up", async () => {
    const h = home();
    const r = await runCli(["provision", "alice", "--provider", "hetzner", "--secret", "OPENAI_API_KEY", "--no-wait"], { env: { ...h.env, OPENAI_API_KEY: "sk-secret-value-1" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Error: --secret needs the machine up (on Hetzner Cloud secrets are written over SSH after boot), so it cannot be used with --no-wait\n");
    expect(r.stderr).not.toContain("sk-secret-value-1");
  });

  it("prints the plan with monthly prices per user and in total, from the catalog without a token", async () => {
    const h = home();
    const r = await runCli(["provision", "alice", "bob", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--dry-run", "--json"], { env: h.env });
    expect(r.code).toBe(0);
    const report = r.json<{ plan: { user: string; action: string; monthlyPrice: number; currency: string }[]; total: { monthlyPrice: number; users: number; currency: string } }>();
    expect(report.plan.map((p) => [p.user, p.action, p.monthlyPrice, p.currency])).toEqual([["alice", "create", 4.29, "EUR"], ["bob", "create", 4.29, "EUR"]]);
    expect(report.total).toEqual({ monthlyPrice: 8.58, currency: "EUR", users: 2 });
  });

  it("reads users from --from-file -, one per line with comments", async () => {
    const h = home();
    const r = await runCli(["provision", "--from-file", "-", "--provider", "fly", "--region", "ams", "--dry-run", "--json"], { env: h.env, stdin: "# batch 1\nann\n\nben  # vip\n" });
    expect(r.code).toBe(0);
    expect(r.json<{ plan: { user: string; size: string; monthlyPrice: number }[] }>().plan.map((p) => [p.user, p.size, p.monthlyPrice])).toEqual([
      ["ann", "shared-cpu-1x-2gb", 10.85], ["ben", "shared-cpu-1x-2gb", 10.85],
    ]);
  });

  it("needs a token to provision for real, naming the variable", async () => {
    const h = home();
    const r = await runCli(["provision", "alice", "--provider", "hetzner"], { env: h.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Error: no Hetzner Cloud API token");
    expect(r.stderr).toContain("export HCLOUD_TOKEN=");
  });
});
