import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { HostHandle } from "../../src/sandbox/host/index.js";
import { collect, makeWorkspace, ssh, sshArgv, testHost, until, type Workspace } from "./host-helpers.js";

const STAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z level=\w+ component=\w+ msg=".*" .*seq=\d+$/;
const seqOf = (line: string) => Number(/seq=(\d+)$/.exec(line)?.[1]);
const lines = (b: Buffer) => b.toString().split("\n").filter(Boolean);

let ws: Workspace;
let host: HostHandle;

beforeAll(async () => {
  ws = makeWorkspace();
  host = await testHost(ws, "docker-one", "127.77.200.10");
  await until(async () => ((await host.logs({ tail: 12 })).length >= 12 ? true : undefined));
});
afterAll(async () => {
  await host?.close();
  ws?.cleanup();
});

const health = async (h: HostHandle) => {
  const port = h.healthPort();
  if (port === undefined) return "no port";
  return fetch(`http://${h.address}:${port}/healthz`).then((r) => r.status, (e: Error) => (e.cause as NodeJS.ErrnoException)?.code ?? e.message);
};

describe("docker logs", () => {
  test("--tail N prints the last N lines, in order, without timestamps", async () => {
    const r = await ssh(ws, host, "docker logs --tail 5 automna-agent");
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(5);
    for (const l of out) expect(l).toMatch(/^level=\w+ component=\w+ msg=".*" .*seq=\d+$/);
    const seqs = out.map(seqOf);
    expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] ?? 0) + i));
    expect((await ssh(ws, host, "docker logs -n 0 automna-agent")).stdout.length).toBe(0);
  });

  test("--timestamps prefixes Docker's fixed-width RFC3339 nano time", async () => {
    const out = lines((await ssh(ws, host, "docker logs --timestamps --tail=3 automna-agent")).stdout);
    expect(out).toHaveLength(3);
    for (const l of out) expect(l).toMatch(STAMPED);
    const times = out.map((l) => l.slice(0, 30));
    expect([...times].sort()).toEqual(times);
  });

  test("--since takes RFC3339 (any zone), unix and Go-duration forms", async () => {
    const marker = await host.emitLog('level=info component=test msg="since marker"');
    const [date, clock] = marker.time.split("T");
    const h = Number(clock?.slice(0, 2));
    // The same instant written in +01:00 (same day unless it is 23h UTC; then use Z).
    const zoned = h < 23 ? `${date}T${String(h + 1).padStart(2, "0")}${clock?.slice(2, 18)}+01:00` : marker.time;
    const unix = `${Math.floor(Date.parse(marker.time) / 1000)}.${marker.time.slice(20, 29)}`;
    for (const since of [marker.time, zoned, unix]) {
      const out = lines((await ssh(ws, host, `docker logs -t --since ${since} automna-agent`)).stdout);
      expect(out[0]).toBe(`${marker.time} ${marker.line}`);
    }
    const all = lines((await ssh(ws, host, "docker logs automna-agent")).stdout);
    const recent = lines((await ssh(ws, host, "docker logs --since 10m automna-agent")).stdout);
    expect(recent.length).toBeGreaterThanOrEqual(all.length);
    expect((await ssh(ws, host, "docker logs --since 2100-01-01T00:00:00Z automna-agent")).stdout.toString()).toBe("");
    const bad = await ssh(ws, host, "docker logs --since yesterday automna-agent");
    expect([bad.code, bad.stderr]).toEqual([1, 'Error response from daemon: invalid value for "since": yesterday\n']);
  });

  // The second form is the whole log with times: copied from the files, then followed from the
  // daemon after the last line copied.
  test.each(["docker logs -f --tail 2 -t automna-agent", "docker logs -t -f automna-agent"])("%s prints existing lines then streams new ones until ssh is killed", async (command) => {
    const child = spawn("ssh", sshArgv(ws, host, command), { stdio: ["ignore", "pipe", "pipe"] });
    const done = collect(child);
    let got = "";
    child.stdout.on("data", (c: Buffer) => (got += c.toString()));
    const before = (await host.logs({ tail: 1 }))[0];
    const had = (await host.logs({})).length;
    const want = command.includes("--tail 2") ? 6 : had + 3;
    await until(() => (got.split("\n").filter(Boolean).length >= want ? true : undefined));
    child.kill("SIGTERM");
    await done;
    const out = got.split("\n").filter(Boolean);
    for (const l of out) expect(l).toMatch(STAMPED);
    const seqs = out.map(seqOf);
    // No duplicate and no gap between what was there and what streamed in.
    expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] ?? 0) + i));
    expect(out.some((l) => l.slice(0, 30) > (before?.time ?? ""))).toBe(true);
  });

  test("errors read like Docker's", async () => {
    const unknown = await ssh(ws, host, "docker logs nope");
    expect([unknown.code, unknown.stderr]).toEqual([1, "Error response from daemon: No such container: nope\n"]);
    const flag = await ssh(ws, host, "docker logs --colour automna-agent");
    expect([flag.code, flag.stderr]).toEqual([125, "unknown flag: --colour\nSee 'docker logs --help'.\n"]);
    const cmd = await ssh(ws, host, "docker frobnicate");
    expect([cmd.code, cmd.stderr]).toEqual([1, "docker: 'frobnicate' is not a docker command.\nSee 'docker --help'\n"]);
    const args = await ssh(ws, host, "docker logs");
    expect(args.code).toBe(1);
    expect(args.stderr).toContain('"docker logs" requires exactly 1 argument.');
  });
});

describe("docker ps, inspect, stop, start", () => {
  test("ps and inspect describe the running agent", async () => {
    const ps = lines((await ssh(ws, host, "docker ps")).stdout);
    expect(ps[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps[1]).toMatch(/^[0-9a-f]{12}\s+ghcr\.io\/automna\/agent:latest\s+".*"\s+.+ ago\s+Up .+\s+127\.77\.200\.10:\d+->\d+\/tcp\s+automna-agent$/);
    expect((await ssh(ws, host, "docker ps --format '{{.Names}}\\t{{.State}}'")).stdout.toString()).toBe("automna-agent\trunning\n");
    const inspect = JSON.parse((await ssh(ws, host, "docker inspect automna-agent")).stdout.toString()) as Array<{ Name: string; State: { Running: boolean; Status: string; StartedAt: string }; Mounts: Array<{ Destination: string }> }>;
    expect(inspect).toHaveLength(1);
    expect(inspect[0]?.Name).toBe("/automna-agent");
    expect(inspect[0]?.State).toMatchObject({ Running: true, Status: "running" });
    expect(Date.parse(inspect[0]?.State.StartedAt ?? "")).toBeGreaterThan(0);
    expect(inspect[0]?.Mounts[0]?.Destination).toBe("/data");
    expect((await ssh(ws, host, "docker inspect -f '{{.State.Running}} {{json .State.Status}}' automna-agent")).stdout.toString()).toBe('true "running"\n');
    const missing = await ssh(ws, host, "docker inspect nope");
    expect([missing.code, missing.stdout.toString(), missing.stderr]).toEqual([1, "[]\n", "Error: No such object: nope\n"]);
  });

  test("stop halts logs, data writes and health; start brings them back", async () => {
    expect(await health(host)).toBe(200);
    const stop = await ssh(ws, host, "docker stop automna-agent");
    expect([stop.code, stop.stdout.toString()]).toEqual([0, "automna-agent\n"]);
    expect(host.agentRunning()).toBe(false);
    const last = (await host.logs({ tail: 1 }))[0];
    expect(last?.line).toContain("shutting down");
    expect(await health(host)).toBe("no port");

    const blob = join(host.dataDir, "blobs", "blob-0.bin");
    const sizeAtStop = statSync(blob).size;
    await new Promise((r) => setTimeout(r, 300)); // several log and data intervals
    expect((await host.logs({ tail: 1 }))[0]).toEqual(last);
    expect(statSync(blob).size).toBe(sizeAtStop);

    // Following a stopped container prints what there is and ends, as docker does; stopping it again is fine.
    const views = await ssh(ws, host, "docker ps -q | wc -l; docker ps -a --format '{{.Status}}'; docker inspect -f '{{.State.Running}}' automna-agent; docker logs -f --tail 1 automna-agent && docker stop automna-agent");
    expect(views.code).toBe(0);
    expect(lines(views.stdout)).toEqual(["0", expect.stringMatching(/^Exited \(0\) .+ ago$/), "false", last?.line, "automna-agent"]);

    const start = await ssh(ws, host, "docker start automna-agent");
    expect([start.code, start.stdout.toString()]).toEqual([0, "automna-agent\n"]);
    expect(host.agentRunning()).toBe(true);
    expect(await health(host)).toBe(200);
    await until(async () => ((await host.logs({ tail: 1 }))[0]?.time ?? "") > (last?.time ?? "") || undefined);
    await until(() => statSync(blob).size > sizeAtStop || undefined);
  });

  test("stop and start are one call to the daemon from bash, starting neither node nor curl (a migration runs both)", async () => {
    // A node started under this option exits at once with "bad option", and this curl fails:
    // only the script's own call to the daemon can succeed.
    const noClients = 'export NODE_OPTIONS=--no-such-node-option; d=$(mktemp -d); printf "#!/bin/sh\\nexit 7\\n" > "$d/curl"; chmod +x "$d/curl"; export PATH="$d:$PATH"';
    const r = await ssh(ws, host, `${noClients}; docker stop automna-agent && docker start automna-agent; rm -r "$d"`);
    expect([r.code, r.stdout.toString(), r.stderr]).toEqual([0, "automna-agent\nautomna-agent\n", ""]);
    expect(host.agentRunning()).toBe(true);
    const gone = await ssh(ws, host, `${noClients}; AUTOMNA_HOST_TOKEN=wrong docker stop automna-agent`);
    expect(gone.code).not.toBe(0); // a wrong token is refused by the daemon, then by node's start
    expect(host.agentRunning()).toBe(true);
  });

  test("a follow ends when the agent stops", async () => {
    const child = spawn("ssh", sshArgv(ws, host, "docker logs -f --tail 0 automna-agent"), { stdio: ["ignore", "pipe", "pipe"] });
    const done = collect(child);
    let got = "";
    child.stdout.on("data", (c: Buffer) => (got += c.toString()));
    await until(() => got.length > 0 || undefined);
    expect((await ssh(ws, host, "docker restart automna-agent")).stdout.toString()).toBe("automna-agent\n");
    const r = await done;
    expect(r.code).toBe(0);
    expect(got.trimEnd().split("\n").at(-1)).toContain("shutting down");
    expect(host.agentRunning()).toBe(true);
  });

  test("docker exec runs in the container's /data while it runs", async () => {
    const r = await ssh(ws, host, "docker exec automna-agent sh -c 'pwd; cat memory/profile.json'");
    const [cwd, ...rest] = r.stdout.toString().split("\n");
    expect(cwd).toBe(host.isolation === "mount-namespace" ? "/data" : host.dataDir);
    expect(JSON.parse(rest.join("\n"))).toMatchObject({ host: "docker-one" });
    await ssh(ws, host, "docker stop automna-agent");
    const stopped = await ssh(ws, host, "docker exec automna-agent true");
    expect([stopped.code, stopped.stderr]).toEqual([1, expect.stringMatching(/^Error response from daemon: container [0-9a-f]{64} is not running\n$/)]);
    await ssh(ws, host, "docker start automna-agent");
  });
});

describe("cloud-init", () => {
  test("a sandbox host's first boot has finished: status --wait answers done at once, whatever the dev machine has installed", async () => {
    const r = await ssh(ws, host, "cloud-init status --wait");
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("status: done\n");
    const other = await ssh(ws, host, "cloud-init schema -c /dev/null");
    expect(other.code).toBe(1);
  });
});
