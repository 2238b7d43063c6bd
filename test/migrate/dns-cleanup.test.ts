import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { instances, migrateWorld, provision, type MigrateWorld } from "./world.js";

/**
 * #11 item 7: a destroyed or garbage-collected user leaves no DNS record automna made pointing
 * at an address the provider may hand to someone else; doctor reports (and --fix removes) any
 * that dangle. Records automna did not make are never touched.
 */
let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.87", seedBytes: 128 * 1024, writeEveryMs: 200 });
  await provision(w, "hetzner", ["dn-1"]);
}, budget(2 * QUIET_MS.test));
afterAll(async () => {
  await w?.cleanup();
});

const name = (user: string): string => `${user}.agents.example.test`;

async function cloudflare(method: string, path: string, body?: unknown): Promise<{ status: number; body: { result: { id: string } } }> {
  const cf = w.sb.cloudflare;
  const res = await fetch(`${cf.url}/zones/${cf.zoneId}${path}`, {
    method, headers: { authorization: `Bearer ${cf.token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { result: { id: string } } };
}

describe("DNS records follow the instances they route to", () => {
  it("gc of the retired source keeps the record of the live target; destroy removes the user's records and only automna's", async () => {
    const migrated = await runCli(["migrate", "dn-1", "--from", "hetzner", "--to", "digitalocean", "--keep-source", "1h", "--yes", "--json"], { env: w.env });
    expect(migrated.code, migrated.stderr).toBe(0);
    const live = (await instances(w, "dn-1")).find((r) => r.role === "live")!;
    expect(w.sb.cloudflare.records().filter((r) => r.name === name("dn-1")).map((r) => [r.type, r.content])).toEqual([["A", live.addresses.ipv4]]);
    // The operator's own record at the same name, made without automna's label.
    expect((await cloudflare("POST", "/dns_records", { type: "TXT", name: name("dn-1"), content: "\"owned by ops\"", ttl: 60 })).status).toBe(200);

    const later = { now: () => new Date(Date.now() + 2 * 3_600_000) };
    const gc = await runCli(["gc", "--yes", "--json"], { env: w.env, clock: later });
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.json<{ user: string; removed: string[] }[]>().find((r) => r.user === "dn-1")!.removed.some((x) => x.startsWith("dns"))).toBe(false);
    expect(w.sb.cloudflare.records().filter((r) => r.name === name("dn-1")).map((r) => r.type).sort()).toEqual(["A", "TXT"]);

    const destroyed = await runCli(["destroy", "dn-1", "--yes", "--json"], { env: w.env });
    expect(destroyed.code, destroyed.stderr).toBe(0);
    expect(destroyed.json<{ removed: string[] }[]>()[0]!.removed).toContain(`dns A ${name("dn-1")} -> ${live.addresses.ipv4}`);
    expect(w.sb.cloudflare.records().filter((r) => r.name === name("dn-1")).map((r) => r.type)).toEqual(["TXT"]);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("doctor reports a record automna made with no instance behind it; --fix removes it and nothing else", async () => {
    // As a destroy before this fix left it: labelled for a user state no longer has.
    const planted = await cloudflare("POST", "/dns_records", { type: "A", name: name("gone-9"), content: "203.0.113.9", ttl: 60, comment: "automna-user:gone-9" });
    expect(planted.status).toBe(200);
    await cloudflare("POST", "/dns_records", { type: "A", name: "www.agents.example.test", content: "203.0.113.10", ttl: 60 });

    const report = await runCli(["doctor", "--json"], { env: w.env });
    expect(report.code).toBe(1);
    const drift = report.json<{ drift: { kind: string; user: string; detail: string; resources: Record<string, string> }[]; dns: { ok: boolean; dangling: number } }>();
    expect(drift.dns).toEqual({ ok: true, dangling: 1 });
    expect(drift.drift.filter((d) => d.kind === "dns")).toEqual([{
      kind: "dns", user: "gone-9", provider: "cloudflare", resources: { record: planted.body.result.id },
      detail: `A ${name("gone-9")} -> 203.0.113.9: no instance of gone-9 behind it (whoever gets that address next would serve the name)`,
    }]);

    const fixed = await runCli(["doctor", "--fix", "--yes", "--json"], { env: w.env });
    expect(fixed.json<{ drift: { kind: string; fixed?: string }[] }>().drift.filter((d) => d.kind === "dns")).toEqual([expect.objectContaining({ fixed: "record removed" })]);
    expect(w.sb.cloudflare.records().map((r) => r.name)).not.toContain(name("gone-9"));
    expect(w.sb.cloudflare.records().map((r) => r.name)).toContain("www.agents.example.test");
    const again = await runCli(["doctor", "--json"], { env: w.env });
    expect(again.json<{ dns: { dangling: number } }>().dns.dangling).toBe(0);
  }, budget(QUIET_MS.test));
});
