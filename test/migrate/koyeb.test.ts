/**
 * Migrations to and from Koyeb in the sandbox: data moves through the object store by curl on
 * the instance over Koyeb's exec WebSocket; the Koyeb target is created held (a `sleep infinity`
 * deployment) and released by a new deployment; its health is Koyeb's (a healthy deployment).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { bytesOf, expectCarriedOver, hostDir, instances, listingDigestOf, migrateWorld, provision, seed, tree, type MigrateWorld, type ProviderName } from "./world.js";

let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.87" });
});
afterAll(async () => {
  await w?.cleanup();
});

const PAIRS: [string, ProviderName, ProviderName][] = [["kh-1", "koyeb", "hetzner"], ["fk-1", "fly", "koyeb"]];

describe("migrate to and from Koyeb (exec WebSocket, object store, DNS)", () => {
  it.each(PAIRS)("%s: %s -> %s moves every byte of /data with equal checksums", async (user, from, to) => {
    await provision(w, from, [user]);
    await seed(w, user, 3);
    const res = await runCli(["migrate", user, "--from", from, "--to", to, "--yes", "--json"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    const out = res.json<{ results: { op: string; result: string }[]; summary: Record<string, number> }>();
    expect(out.summary).toEqual({ migrated: 1, rolledBack: 0, failed: 0 });
    const rows = await instances(w, user);
    const live = rows.find((x) => x.role === "live")!;
    const retired = rows.find((x) => x.role === "retired")!;
    expect([live.provider, retired.provider, retired.status]).toEqual([to, from, "stopped"]);
    // Both sides' listings were verified equal (the quick check); the frozen source is carried over byte for byte.
    const status = await runCli(["migrate", "status", out.results[0]!.op, "--json"], { env: w.env });
    const journal = status.json<{ journal: { step: string; phase: string; data: Record<string, unknown> }[] }>().journal;
    const sourceDir = `${hostDir(w, retired)}/data`;
    expect(journal.find((e) => e.step === "verify" && e.phase === "done")!.data.listing).toBe(listingDigestOf(sourceDir));
    expect(expectCarriedOver(sourceDir, `${hostDir(w, live)}/data`)).toEqual([]);
    expect(bytesOf(`${hostDir(w, live)}/data`)).toBeGreaterThan(3 * 1024 * 1024);
    expect(Object.keys(tree(sourceDir))).toEqual(expect.arrayContaining(["uploads/file 2.bin", "blobs/latest", "empty dir/"]));
    // DNS: an A record to a VM; a Koyeb worker takes no inbound traffic, so the name is removed.
    const record = w.sb.cloudflare.records().filter((x) => x.name === `${user}.agents.example.test`);
    expect(record.map((x) => [x.type, x.content])).toEqual(to === "koyeb" ? [] : [["A", live.addresses.ipv4!]]);
    // The Koyeb side runs its agent again (released) or is paused (retired).
    const now = await runCli(["status", user, "--json"], { env: w.env });
    expect(now.json<{ instance: { provider: string }; live: { status: string } }>()).toMatchObject({ instance: { provider: to }, live: { status: "running" } });
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});
