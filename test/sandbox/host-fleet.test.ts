import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startHost, type HostHandle } from "../../src/sandbox/host/index.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { collect, makeWorkspace, ssh, sshArgv, testHost, type Workspace } from "./host-helpers.js";

let ws: Workspace;
beforeAll(() => {
  ws = makeWorkspace();
});
afterAll(() => ws?.cleanup());

const health = (h: HostHandle, port = h.healthPort()) =>
  fetch(`http://${h.address}:${port}/healthz`).then((r) => r.status, (e: Error) => (e.cause as NodeJS.ErrnoException)?.code ?? e.message);

describe("many hosts", () => {
  // 30 host starts and 30 ssh handshakes at once on two cores: the budget and ssh's connect
  // timeout scale with that work and the machine's load, so a busy CI run does not call it hung.
  test("30 hosts start at once, each answering ssh and health as itself", { timeout: budget(QUIET_MS.test * 3) }, async () => {
    const hosts = await Promise.all(Array.from({ length: 30 }, (_, i) => testHost(ws, `fleet-${i + 1}`, `127.77.201.${i + 1}`, { agent: { logIntervalMs: 1000, dataWriteIntervalMs: 5000, seedBytes: 1024 } })));
    try {
      expect(new Set(hosts.map((h) => h.hostKeyPublic)).size).toBe(30);
      const results = await Promise.all(hosts.map((h) => ssh(ws, h, 'echo "$AUTOMNA_HOST_ID"; docker ps -q | wc -l', { extra: { connectTimeoutSec: Math.ceil(budget(10_000) / 1000) } })));
      expect(results.map((r) => r.stdout.toString())).toEqual(hosts.map((h) => `${h.id}\n1\n`));
      expect(await Promise.all(hosts.map((h) => health(h)))).toEqual(hosts.map(() => 200));
    } finally {
      await Promise.all(hosts.map((h) => h.close()));
    }
    expect(hosts.every((h) => !h.running() && !h.agentRunning())).toBe(true);
  });
});

describe("power and restarts", () => {
  test("power off refuses ssh and health; power on brings both back on the same port and key", async () => {
    const host = await testHost(ws, "power", "127.77.200.20");
    try {
      const port = host.sshPort;
      const healthPort = host.healthPort();
      const session = spawn("ssh", sshArgv(ws, host, "sleep 30"), { stdio: ["ignore", "pipe", "pipe"] });
      const hungUp = collect(session);
      await host.stop();
      expect((await hungUp).code).toBe(255); // the open session was dropped with the machine
      expect(host.agentRunning()).toBe(false);
      const refused = await ssh(ws, host, "true");
      expect(refused.code).toBe(255);
      expect(refused.stderr).toContain("Connection refused");
      expect(host.healthPort()).toBeUndefined();
      expect(await health(host, healthPort)).toBe("ECONNREFUSED");

      await host.start();
      expect(host.sshPort).toBe(port);
      expect((await ssh(ws, host, "docker inspect -f '{{.State.Running}}' automna-agent")).stdout.toString()).toBe("true\n");
      expect(await health(host)).toBe(200);
    } finally {
      await host.close();
    }
  });

  test("an agent stopped with docker stop stays stopped across a sandbox restart, a power cycle starts it", async () => {
    const rootDir = join(ws.dir, "sticky");
    const opts = { id: "sticky", address: "127.77.200.21", sshPort: 0, healthPort: 0, rootDir, authorizedKeys: [ws.publicKey] };
    const first = await startHost(opts);
    expect((await first.exec("docker stop automna-agent")).exitCode).toBe(0);
    await first.close();

    const second = await startHost(opts);
    try {
      expect(second.agentRunning()).toBe(false);
      await second.stop();
      await second.start();
      expect(second.agentRunning()).toBe(true);
    } finally {
      await second.close();
    }
  });
});

describe("without a mount namespace", () => {
  test("commands and docker exec find the data through $AUTOMNA_DATA", async () => {
    const host = await testHost(ws, "envonly", "127.77.200.23", { isolation: "env", healthPort: null });
    try {
      expect([host.isolation, host.dataPaths]).toEqual(["env", []]);
      const r = await ssh(ws, host, 'ls "$AUTOMNA_DATA/memory" | grep -c "^conversations-[0-3].json$"; docker exec automna-agent pwd; hostname');
      expect(r.stdout.toString()).toBe(`4\n${host.dataDir}\n${hostname()}\n`);
    } finally {
      await host.close();
    }
  });
});

describe("in-process access for the provider stand-ins", () => {
  test("exec runs like an ssh exec and returns bytes and the exit code", async () => {
    const host = await testHost(ws, "inproc", "127.77.200.22", { healthPort: null });
    try {
      const r = await host.exec("cat; printf err >&2; exit 4", { stdin: "piped" });
      expect({ code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() }).toEqual({ code: 4, out: "piped", err: "err" });
      const killed = await host.exec("kill -TERM $$");
      expect([killed.exitCode, killed.signal]).toEqual([143, "SIGTERM"]);

      const marker = await host.emitLog("hello from the test");
      expect(marker.line).toMatch(/^hello from the test seq=\d+$/);
      expect((await host.logs({ since: marker.time })).map((e) => e.line)[0]).toBe(marker.line);
      const seen: string[] = [];
      const unsubscribe = host.subscribeLogs((e) => seen.push(e.line));
      await host.emitLog("streamed");
      unsubscribe();
      expect(seen.at(-1)).toMatch(/^streamed seq=\d+$/);
      expect(host.healthPort()).toBeUndefined();
    } finally {
      await host.close();
    }
  });
});
