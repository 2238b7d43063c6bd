/**
 * A provision interrupted after the provider made the instance (the row still `provisioning`,
 * as a crash or a closed pipe leaves it) is resumed by the next run through the one
 * create-by-marker of src/fleet: it looks the marker up first and adopts what it finds, with
 * the price read again, and never sends a second create.
 */
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeHome, runCli } from "../helpers/cli.js";
import { PROVIDERS, countAtProvider, placementFlags, startFleetSandbox, type FleetSandbox } from "../helpers/fleet-sandbox.js";

let fs: FleetSandbox;
beforeAll(async () => {
  fs = await startFleetSandbox();
});
afterAll(async () => {
  await fs?.close();
});

describe.each(PROVIDERS)("a resumed provision on $id", (p) => {
  it("adopts the instance by its marker without sending a second create", async () => {
    const home = makeHome();
    try {
      const env = fs.env(home);
      const made = await runCli(["provision", "rita", ...placementFlags(p), "--json"], { env });
      expect(made.code).toBe(0);
      const first = made.json<{ results: { monthlyPrice: number; resources: Record<string, string> }[] }>().results[0]!;
      // As an interrupted run leaves it: the ids recorded (the created hook), the rest not.
      const db = new DatabaseSync(home.statePath);
      db.prepare("UPDATE instances SET status = 'provisioning', meta = json_remove(meta, '$.monthlyPrice') WHERE user = 'rita'").run();
      db.close();
      const from = fs.sandbox.requests().length;
      const again = await runCli(["provision", "rita", ...placementFlags(p), "--json"], { env });
      expect(again.code).toBe(0);
      const resumed = again.json<{ results: { result: string; status: string; resources: Record<string, string>; monthlyPrice: number }[] }>().results[0]!;
      expect(resumed).toMatchObject({ result: "resumed", status: "running", resources: first.resources, monthlyPrice: first.monthlyPrice });
      const sent = fs.requestsSince(from, p.id).filter((q) => q.method !== "GET");
      expect(sent.map((q) => `${q.method} ${q.path}`)).toEqual([]);
      expect(await countAtProvider(fs, p, "rita")).toBe(1);
      const listed = (await runCli(["list", "-o", "json"], { env })).json<{ user: string; status: string; monthlyPrice: number }[]>();
      expect(listed).toMatchObject([{ user: "rita", status: "running", monthlyPrice: first.monthlyPrice }]);
    } finally {
      home.cleanup();
    }
  });
});
