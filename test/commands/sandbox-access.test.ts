import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Context } from "../../src/context.js";
import { makeHome, runCli, type MemoryStream } from "../helpers/cli.js";
import { until } from "../sandbox/host-helpers.js";

const home = makeHome({ AUTOMNA_POLL_MS: "10", AUTOMNA_RATE_SCALE: "100" });
afterAll(() => home.cleanup());

describe("sandbox up: ssh, exec and logs work with no setup", () => {
  it("writes ssh.port and its own key pair into the sandbox profile; provision, ssh and logs use them; --debug never shows the host key", async () => {
    const dir = join(home.dir, "world");
    const controller = new AbortController();
    let err: MemoryStream | undefined;
    const up = runCli(["sandbox", "up", "--port", "0", "--dir", dir, "--ssh-port", "22025", "--action-delay", "20", "--rate-limit-scale", "100", "--no-rate-limits"], {
      env: home.env, signal: controller.signal, setup: (ctx: Context) => (err = ctx.io.streams.stderr as MemoryStream),
    });
    try {
      await until(() => err?.text().includes("Next: automna --profile sandbox") || undefined, 15_000);
      const profile = (JSON.parse(readFileSync(home.configPath, "utf8")) as { profiles: { sandbox: { ssh: Record<string, unknown> } } }).profiles.sandbox.ssh;
      expect(profile).toEqual({ port: 22025, publicKey: join(dir, "ssh", "id_ed25519.pub"), identityFile: join(dir, "ssh", "id_ed25519") });
      expect(existsSync(join(dir, "ssh", "id_ed25519"))).toBe(true);
      expect(err!.text()).toContain("  ssh.port = 22025\n");

      const made = await runCli(["--profile", "sandbox", "--debug", "provision", "alice", "--provider", "digitalocean", "--region", "fra1", "--size", "s-1vcpu-2gb"], { env: home.env });
      expect(made.code, made.stderr).toBe(0);
      expect(made.stderr).toContain("POST");
      expect(made.stderr).toContain("<body with secrets not shown>");
      expect(made.stderr).not.toContain("PRIVATE KEY");
      // The machine's sshd comes up a moment after the API calls it active (as a real VM boots);
      // other tests wait for the sandbox to settle, this one only has the CLI.
      const ssh = await until(async () => {
        const r = await runCli(["--profile", "sandbox", "ssh", "alice", "--", "hostname"], { env: home.env });
        return /cannot reach .*Connection refused/.test(r.stderr) ? undefined : r;
      });
      expect(ssh, ssh.stderr).toMatchObject({ code: 0, stdout: "automna-alice\n" });
      const logs = await runCli(["--profile", "sandbox", "logs", "alice", "--tail", "1"], { env: home.env });
      expect(logs.code).toBe(0);
      expect(logs.stdout).toMatch(/^level=\w+ .*\n$/);
    } finally {
      controller.abort();
      expect((await up).code).toBe(0);
    }
  });
});
