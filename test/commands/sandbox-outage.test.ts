import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { automnaIn, detachedSandboxHomes } from "../helpers/detached-sandbox.js";

const home = detachedSandboxHomes();
const automna = automnaIn;

describe("automna sandbox outage", () => {
  it("takes a provider of the running sandbox down for a time, and brings it back with --end", async () => {
    const h = home();
    const up = await automna(h, "sandbox", "up", "--detach", "--port", "0", "--action-delay", "20", "--json");
    expect(up.exitCode, up.stderr).toBe(0);
    const { urls } = JSON.parse(up.stdout) as { urls: { admin: string; hetzner: string } };

    const down = await runCli(["sandbox", "outage", "hetzner", "--for", "10m", "--json"], { env: h.env });
    expect(down.code, down.stderr).toBe(0);
    expect(down.json()).toMatchObject({ provider: "hetzner", outage: "started", until: expect.any(String) });
    const faults = (await (await fetch(`${urls.admin}/faults`)).json()) as { rules: unknown[] };
    expect(faults.rules).toEqual([{ kind: "outage", provider: "hetzner", durationMs: 600_000 }]);
    expect((await fetch(`${urls.hetzner}/servers`)).status).toBe(503);

    const text = await runCli(["sandbox", "outage", "hetzner", "--end"], { env: h.env });
    expect(text.code).toBe(0);
    expect(text.stderr).toContain("hetzner is back");
    expect((await fetch(`${urls.hetzner}/servers`)).status).toBe(401);
    const again = await runCli(["sandbox", "outage", "hetzner", "--end"], { env: h.env });
    expect(again.stderr).toContain("hetzner had no outage in force");
  });

  it("rejects an unknown provider, --end with --for, and says when no sandbox runs", async () => {
    const h = home();
    const unknown = await runCli(["sandbox", "outage", "nowhere"], { env: h.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown provider "nowhere"');
    const both = await runCli(["sandbox", "outage", "fly", "--end", "--for", "1m"], { env: h.env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--end takes neither --for nor --reset");
    const duration = await runCli(["sandbox", "outage", "fly", "--for", "soon"], { env: h.env });
    expect(duration.code).toBe(2);
    const none = await runCli(["sandbox", "outage", "fly", "--dir", join(h.dir, "none")], { env: h.env });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no sandbox is running");
  });
});
