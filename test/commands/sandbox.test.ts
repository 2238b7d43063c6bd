import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { processAlive } from "../../src/sandbox/daemon.js";
import { until } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { automnaIn, detachedSandboxHomes } from "../helpers/detached-sandbox.js";

const home = detachedSandboxHomes();
const automna = automnaIn;

interface UpJson {
  running: boolean;
  alreadyRunning: boolean;
  detached: boolean;
  pid: number;
  dir: string;
  urls: { hetzner: string; digitalocean: string; fly: string; admin: string; s3: string; cloudflare: string };
  profile: string;
  config: string;
  settings: Record<string, unknown>;
}

describe("automna sandbox (built binary)", () => {
  it("up --detach starts a background sandbox, writes the sandbox profile, status reports it, down stops it", async () => {
    const h = home();
    const up = await automna(h, "sandbox", "up", "--detach", "--port", "0", "--action-delay", "20", "--json");
    expect(up.exitCode, up.stderr).toBe(0);
    const result = JSON.parse(up.stdout) as UpJson;
    const dir = join(h.dir, "data", "automna", "sandbox");
    expect(result).toMatchObject({ running: true, alreadyRunning: false, detached: true, dir, profile: "sandbox", config: h.configPath });
    expect(result.urls.hetzner).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(result.settings).toMatchObject({ provider: "hetzner", region: "fsn1", size: "cx22", "fly.org": "personal", "hetzner.token": "***", "fly.token": "***", "digitalocean.token": "***" });
    // Object storage and DNS for migrations: a bucket and a zone ready to use, secrets masked.
    expect(result.settings).toMatchObject({
      "storage.endpoint": result.urls.s3, "storage.bucket": "automna", "storage.accessKeyId": "***", "storage.secretAccessKey": "***",
      "cloudflare.url": result.urls.cloudflare, "cloudflare.token": "***", "dns.template": "{user}.agents.example.test",
    });
    expect(result.settings["cloudflare.zoneId"]).toMatch(/^[0-9a-f]{32}$/);
    const token = readFileSync(join(dir, "token"), "utf8");
    expect(up.stdout + up.stderr).not.toContain(token);

    const config = JSON.parse(readFileSync(h.configPath, "utf8")) as { profiles: Record<string, Record<string, unknown>> };
    expect(config.profiles.sandbox).toMatchObject({
      hetzner: { url: result.urls.hetzner }, digitalocean: { url: result.urls.digitalocean }, fly: { url: result.urls.fly, org: "personal" }, provider: "hetzner",
    });
    const profile = config.profiles.sandbox as Record<string, { token?: string }>;
    expect([profile.hetzner?.token, profile.digitalocean?.token, profile.fly?.token].every((t) => t === token)).toBe(true);
    const get = await runCli(["--profile", "sandbox", "config", "get", "hetzner.url", "--json"], { env: h.env });
    expect(get.json()).toEqual({ key: "hetzner.url", value: result.urls.hetzner, source: "file" });

    const created = await fetch(`${result.urls.hetzner}/servers`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "cli-user", server_type: "cx22", image: "ubuntu-24.04" }),
    });
    expect(created.status).toBe(201);

    const status = await automna(h, "sandbox", "status", "--json");
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, pid: result.pid, urls: result.urls, counts: { hetznerServers: 1 } });

    const again = await automna(h, "sandbox", "up", "--detach", "--json");
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyRunning: true, pid: result.pid, urls: result.urls });

    const human = await automna(h, "sandbox", "status");
    expect(human.stdout).toMatch(/^status:\s+running \(pid \d+/m);
    expect(human.stdout).toMatch(/^hetznerServers:\s+1$/m);

    const down = await automna(h, "sandbox", "down", "--json");
    expect(down.exitCode).toBe(0);
    expect(JSON.parse(down.stdout)).toEqual({ dir, wasRunning: true, pid: result.pid });
    expect(processAlive(result.pid)).toBe(false);
    expect(existsSync(join(dir, "sandbox.json"))).toBe(false);

    const after = await automna(h, "sandbox", "status", "--json");
    expect(JSON.parse(after.stdout)).toMatchObject({ running: false, pid: null, urls: null, counts: { hetznerServers: 1 } });
    const downAgain = await automna(h, "sandbox", "down");
    expect(downAgain.exitCode).toBe(0);
    expect(downAgain.stderr).toContain("no sandbox is running");
  });
});

describe("automna sandbox --dir (built binary)", () => {
  it("status and down find a sandbox started with --dir through the profile up wrote", async () => {
    const h = home();
    const dir = join(h.dir, "elsewhere");
    const up = await automna(h, "sandbox", "up", "--detach", "--port", "0", "--dir", dir, "--json");
    expect(up.exitCode, up.stderr).toBe(0);
    const { pid } = JSON.parse(up.stdout) as UpJson;
    expect(JSON.parse((await automna(h, "sandbox", "status", "--json")).stdout)).toMatchObject({ running: true, dir, pid });
    const down = await automna(h, "sandbox", "down", "--json");
    expect(JSON.parse(down.stdout)).toEqual({ dir, wasRunning: true, pid });
    expect(processAlive(pid)).toBe(false);
  });
});

describe("automna sandbox (in-process)", () => {
  it("runs in the foreground until the signal, then shuts down and removes its run file", async () => {
    const h = home();
    const dir = join(h.dir, "world");
    const controller = new AbortController();
    const running = runCli(["sandbox", "up", "--port", "0", "--dir", dir, "--health-port", "18080"], { env: h.env, signal: controller.signal });
    await until(() => existsSync(join(dir, "sandbox.json")), 10_000);
    const info = JSON.parse(readFileSync(join(dir, "sandbox.json"), "utf8")) as { pid: number; urls: { admin: string } };
    expect(info.pid).toBe(process.pid);
    expect((await fetch(`${info.urls.admin}/health`)).status).toBe(200);
    controller.abort();
    const result = await running;
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain("Error: cancelled");
    expect(result.stderr).toContain("sandbox running (Ctrl-C stops it)");
    expect(result.stderr).toContain('profile "sandbox" written to');
    expect(result.stderr).toContain("hetzner.token = ***");
    expect(result.stderr).toContain("sandbox stopped");
    expect(existsSync(join(dir, "sandbox.json"))).toBe(false);
    expect(existsSync(join(dir, "sandbox.lock"))).toBe(false);
    await expect(fetch(`${info.urls.admin}/health`)).rejects.toThrow();
  });

  it("rejects bad flags with exit 2", async () => {
    const h = home();
    const port = await runCli(["sandbox", "up", "--port", "abc"], { env: h.env });
    expect(port.code).toBe(2);
    expect(port.stderr).toContain("--port must be a whole number");
    const scale = await runCli(["sandbox", "up", "--rate-limit-scale", "0"], { env: h.env });
    expect(scale.code).toBe(2);
    expect(scale.stderr).toContain("--rate-limit-scale must be greater than 0");
    const latency = await runCli(["sandbox", "up", "--ssh-latency", "-5"], { env: h.env });
    expect(latency.code).toBe(2);
    expect(latency.stderr).toContain("--ssh-latency");
    const faults = await runCli(["sandbox", "up", "--port", "0", "--faults", join(h.dir, "missing.json")], { env: h.env });
    expect(faults.code).toBe(2);
    expect(faults.stderr).toContain("--faults: cannot read");
  });

  it("reports a stopped sandbox's world from disk", async () => {
    const h = home();
    const status = await runCli(["sandbox", "status", "--json", "--dir", join(h.dir, "nothing")], { env: h.env });
    expect(status.code).toBe(0);
    expect(status.json()).toMatchObject({ running: false, counts: { hetznerServers: 0, flyApps: 0 } });
  });
});
