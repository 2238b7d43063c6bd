/**
 * The Koyeb pairs koyeb.test.ts does not cover one by one (hetzner->koyeb, koyeb->digitalocean,
 * digitalocean->koyeb, koyeb->fly), as one user's chain of migrations in one small world: at every
 * hop the new instance's /data carries the frozen source's over (checksums), and the files nothing
 * writes after seeding keep their checksums from the first host to the last. Between hops `gc`
 * removes the retired source (kept 0 s), so the user can come back to Koyeb under the same app name.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { expectCarriedOver, hostDir, instances, migrateWorld, provision, seed, tree, type MigrateWorld, type ProviderName } from "./world.js";

let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.97", seedBytes: 64 * 1024, writeEveryMs: 200 });
});
afterAll(async () => {
  await w?.cleanup();
});

const CHAIN: ProviderName[] = ["hetzner", "koyeb", "digitalocean", "koyeb", "fly"];
const USER = "kp-1";

/** The files the seed wrote, which no agent touches afterwards: path -> sha256. */
function seeded(dir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(tree(dir)).filter(([path]) => path.startsWith("uploads/") || path === "blobs/latest" || path === "notes/with spaces.md"));
}

describe("Koyeb to and from every provider, one hop at a time", () => {
  it(`${CHAIN.join(" -> ")}: /data carried over at every hop, seeded files unchanged end to end`, async () => {
    await provision(w, CHAIN[0]!, [USER]);
    await seed(w, USER, 1);
    const [first] = await instances(w, USER);
    const original = seeded(`${hostDir(w, first!)}/data`);
    expect(Object.keys(original)).toEqual(expect.arrayContaining(["uploads/file 0.bin", "blobs/latest", "notes/with spaces.md"]));
    for (let hop = 1; hop < CHAIN.length; hop++) {
      const [from, to] = [CHAIN[hop - 1]!, CHAIN[hop]!];
      const res = await runCli(["migrate", USER, "--from", from, "--to", to, "--keep-source", "0s", "--yes", "--json"], { env: w.env });
      expect(res.code, `${from} -> ${to}: ${res.stderr}`).toBe(0);
      const rows = await instances(w, USER);
      const live = rows.find((r) => r.role === "live")!;
      const retired = rows.find((r) => r.role === "retired")!;
      expect([from, to, live.provider, retired.provider]).toEqual([from, to, to, from]);
      const liveData = `${hostDir(w, live)}/data`;
      expect([from, to, expectCarriedOver(`${hostDir(w, retired)}/data`, liveData)]).toEqual([from, to, []]);
      expect([from, to, seeded(liveData)]).toEqual([from, to, original]);
      const gc = await runCli(["gc", "--yes", "--json"], { env: w.env });
      expect(gc.code, gc.stderr).toBe(0);
      expect((await instances(w, USER)).map((r) => r.provider)).toEqual([to]);
    }
    const status = await runCli(["status", USER, "--json"], { env: w.env });
    expect(status.json<{ instance: { provider: string }; live: { status: string } }>()).toMatchObject({ instance: { provider: CHAIN.at(-1) }, live: { status: "running" } });
  }, budget(QUIET_MS.test + (CHAIN.length - 1) * QUIET_MS.migration));
});
