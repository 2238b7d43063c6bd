/**
 * The providers' official clients, which nobody here wrote, against the sandbox: each flow in
 * flows/*.ts (hcloud CLI, hcloud-python, DigitalOcean's dots, Cloudflare's SDK, the AWS S3 SDK with
 * presigned URLs and curl) creates with labels or tags, lists with selectors over several pages,
 * reads, waits on actions, deletes, and meets 401/404/422-style errors, as a user would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { sandbox, type Sandbox } from "../sandbox/helpers.js";
import { allFlows } from "./flow.js";

const flows = await allFlows();
let sb: Sandbox;

beforeAll(async () => {
  // Health endpoints only (no simulated hosts): the clients talk to the APIs, not the machines.
  sb = await sandbox({ simulatedHosts: false, addressBase: "127.95", rateLimitScale: 1000, actionDelayMs: 20 });
});
afterAll(async () => {
  await sb?.cleanup();
});

describe("official clients against the sandbox", () => {
  it.each(flows.map((f) => [f.name, f] as const))("%s", async (_name, flow) => {
    const dir = mkdtempSync(join(tmpdir(), "automna-client-"));
    try {
      await flow.run({ sb, dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // A flow is a client's session of a few dozen requests, some through a client's own process.
  }, budget(3 * QUIET_MS.test));
});
