import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { bytesOf, expectCarriedOver, hostDir, instances, listingDigestOf, manifestDigest, migrateWorld, provision, seed, tree, type MigrateWorld, type ProviderName } from "./world.js";

let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.81" });
});
afterAll(async () => {
  await w?.cleanup();
});

// The last pair also hashes every file on both sides (--verify full).
const PAIRS: [string, ProviderName, ProviderName, "quick" | "full"][] = [["fh-1", "fly", "hetzner", "quick"], ["hf-1", "hetzner", "fly", "quick"], ["hd-1", "hetzner", "digitalocean", "full"]];

describe("migrate between providers in the sandbox (real ssh, Fly exec, object store and DNS)", () => {
  it.each(PAIRS)("%s: %s -> %s (--verify %s) moves every byte of /data, switches DNS and retires the source", async (user, from, to, mode) => {
    await provision(w, from, [user]);
    await seed(w, user, 3);
    const res = await runCli(["migrate", user, "--from", from, "--to", to, "--verify", mode, "--yes", "--json"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    const out = res.json<{ results: { user: string; op: string; result: string; downtimeMs: number; bytes: number; dns: { name: string; type: string; content: string } }[]; summary: Record<string, number> }>();
    expect(out.summary).toEqual({ migrated: 1, rolledBack: 0, failed: 0 });
    const r = out.results[0]!;
    expect(r).toMatchObject({ user, result: "migrated" });
    expect(r.downtimeMs).toBeGreaterThan(0);
    const rows = await instances(w, user);
    const live = rows.find((x) => x.role === "live")!;
    const retired = rows.find((x) => x.role === "retired")!;
    expect([live.provider, retired.provider, retired.status]).toEqual([to, from, "stopped"]);
    // What both sides verified is the frozen source: its listing (quick), every file's sha256 too
    // (full); the target carries all of it (its agent has been writing since it started).
    const status = await runCli(["migrate", "status", r.op, "--json"], { env: w.env });
    const journal = status.json<{ journal: { step: string; phase: string; data: Record<string, unknown> }[] }>().journal;
    const verified = journal.find((e) => e.step === "verify" && e.phase === "done")!.data;
    const sourceDir = `${hostDir(w, retired)}/data`;
    expect(verified.listing).toBe(listingDigestOf(sourceDir));
    expect(verified.manifest).toBe(mode === "full" ? manifestDigest(sourceDir) : undefined);
    expect(expectCarriedOver(sourceDir, `${hostDir(w, live)}/data`)).toEqual([]);
    const source = tree(sourceDir);
    expect(bytesOf(`${hostDir(w, live)}/data`)).toBeGreaterThan(3 * 1024 * 1024);
    expect(Object.keys(source)).toEqual(expect.arrayContaining(["uploads/file 2.bin", "blobs/latest", "empty dir/", "notes/with spaces.md", "memory/profile.json"]));
    // DNS: CNAME to the Fly app, A to a VM, read back from the Cloudflare stand-in.
    const record = w.sb.cloudflare.records().filter((x) => x.name === `${user}.agents.example.test`);
    expect(record.map((x) => [x.type, x.content])).toEqual([to === "fly" ? ["CNAME", `automna-${user}.fly.dev`] : ["A", live.addresses.ipv4!]]);
    expect(r.dns).toMatchObject({ type: record[0]!.type, content: record[0]!.content });
    // The target's agent serves; the source's is stopped.
    const now = await runCli(["status", user, "--json"], { env: w.env });
    expect(now.json<{ instance: { provider: string }; health: { ok: boolean } }>()).toMatchObject({ instance: { provider: to }, health: { ok: true } });
    // The retired source is known to state: doctor sees no orphan, list marks it retired.
    const doctor = await runCli(["doctor", "--json"], { env: w.env });
    expect(doctor.code, doctor.stdout).toBe(0);
    const listed = await runCli(["list", "-o", "csv", "--columns", "user,provider,status", "--no-header"], { env: w.env });
    expect(listed.stdout.split("\r\n").filter((l) => l.startsWith(`${user},`)).sort()).toEqual([`${user},${from},stopped (retired)`, `${user},${to},running`].sort());
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});
