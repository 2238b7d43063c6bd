import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readlinkSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { HostHandle } from "../../src/sandbox/host/index.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { makeWorkspace, testHost, until, type Workspace } from "./host-helpers.js";

/**
 * Under `mount-namespace` isolation a host's commands join one namespace kept while the host runs
 * (src/sandbox/host/namespace.ts) instead of each making and mounting its own.
 */
let ws: Workspace;
let host: HostHandle;
const ownNamespace = readlinkSync("/proc/self/ns/mnt");

/** The process ids of a host's namespace holders (`cat`, started by unshare with the host's name). */
function holders(hostname: string): string[] {
  const out = execFileSync("sh", ["-c", `for p in $(pgrep -x cat); do tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx 'AUTOMNA_HOST_NAME=${hostname}' && echo $p; done; true`]).toString();
  return out.split("\n").filter(Boolean);
}

/**
 * The one holder of a host's namespace, waited for: its shell says it is ready just before it
 * execs `cat`, so a command can have joined the namespace while the holder is not `cat` yet.
 */
const oneHolder = (hostname: string): Promise<string> => until(() => {
  const found = holders(hostname);
  return found.length === 1 ? found[0] : undefined;
});

const run = async (command: string): Promise<string> => {
  const r = await host.exec(command);
  expect(r.exitCode, r.stderr.toString()).toBe(0);
  return r.stdout.toString();
};

beforeAll(async () => {
  ws = makeWorkspace();
  host = await testHost(ws, "ns-one", "127.77.205.1");
});
afterAll(async () => {
  await host?.close();
  ws?.cleanup();
});

describe.skipIf(process.getuid?.() !== 0)("a host's kept namespace", () => {
  test("its commands share one namespace, not this process's, with the host's /data and hostname", async () => {
    if (host.isolation !== "mount-namespace") return; // no unshare here: commands get $AUTOMNA_DATA only
    writeFileSync(join(host.dataDir, "marker.txt"), "mine\n");
    const [a, b] = await Promise.all([run("readlink /proc/self/ns/mnt; cat /data/marker.txt; hostname; pwd"), run("readlink /proc/self/ns/mnt")]);
    const [ns, marker, name, cwd] = a.trim().split("\n");
    expect([marker, name, cwd]).toEqual(["mine", "ns-one", host.rootDir]);
    expect(ns).not.toBe(ownNamespace);
    expect(b.trim()).toBe(ns);
    // Only its stdin stays connected to the sandbox: one open file per host there, not three.
    const holder = await oneHolder("ns-one");
    expect([readlinkSync(`/proc/${holder}/fd/0`), readlinkSync(`/proc/${holder}/fd/1`), readlinkSync(`/proc/${holder}/fd/2`)]).toEqual([expect.stringMatching(/^socket:/), "/dev/null", "/dev/null"]);
  });

  test("a data directory removed and made again is seen: the next command gets a new namespace", async () => {
    if (host.isolation !== "mount-namespace") return;
    await run("true");
    const before = [await oneHolder("ns-one")];
    renameSync(host.dataDir, `${host.dataDir}.old`);
    mkdirSync(host.dataDir);
    writeFileSync(join(host.dataDir, "marker.txt"), "new\n");
    expect((await run("cat /data/marker.txt")).trim()).toBe("new");
    // A new holder (namespace ids are no proof: the kernel hands a freed one out again at once).
    await until(() => (holders("ns-one").length === 1 && holders("ns-one")[0] !== before[0]) || undefined);
  });

  test("power off lets the holder go; after power on, commands get a namespace again", async () => {
    if (host.isolation !== "mount-namespace") return;
    await host.stop();
    await until(() => holders("ns-one").length === 0 || undefined);
    await host.start();
    expect((await run("cat /data/marker.txt; hostname")).trim().split("\n")).toEqual(["new", "ns-one"]);
    await oneHolder("ns-one");
  });

  test("does not keep the sandbox process alive: one that leaves a host open exits, and the holder with it", async () => {
    if (host.isolation !== "mount-namespace") return;
    // The built sandbox in a process of its own (npm test builds first), as `automna sandbox` runs it.
    const built = resolve(import.meta.dirname, "../../dist/src/sandbox/host/index.js");
    if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build (npm test does)`);
    const script = join(ws.dir, "leave-open.mjs");
    writeFileSync(script, `import { startHost } from ${JSON.stringify(built)};
const host = await startHost({ id: "ns-left-open", address: "127.77.205.2", sshPort: 0, healthPort: null, rootDir: ${JSON.stringify(join(ws.dir, "left-open"))},
  authorizedKeys: [], agent: { logIntervalMs: 3600000, dataWriteIntervalMs: 3600000, seedBytes: 16 } });
await host.stop();
const r = await host.exec("hostname");
console.log(r.exitCode, r.stdout.toString().trim());
`);
    const r = await execa(process.execPath, [script], { reject: false, timeout: budget(QUIET_MS.binaryRun) });
    expect([r.exitCode, r.stdout, r.stderr]).toEqual([0, "0 ns-left-open", ""]);
    await until(() => holders("ns-left-open").length === 0 || undefined);
  });
});
