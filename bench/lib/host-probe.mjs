// What the namespace benches share: the sandbox's host modules (from the build), refused unless
// mount namespaces work here, and a probe host: a directory whose data/probe holds "ok\n".
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const { detectIsolation, fstabFor } = await import("../../dist/src/sandbox/host/isolation.js");
const { HostNamespace } = await import("../../dist/src/sandbox/host/namespace.js");
const { spawnCommand } = await import("../../dist/src/sandbox/host/process.js");

/** Exits with a one-line reason unless this machine has mount namespaces (root and util-linux unshare). */
export async function requireNamespaces(bench) {
  if ((await detectIsolation()) === "mount-namespace") return;
  console.error(`${bench} needs mount namespaces (root and util-linux unshare)`);
  process.exit(2);
}

/** A host directory `root` with data/probe and its fstab, and its kept namespace. */
export function probeHost(root, name) {
  const dataDir = join(root, "data");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "probe"), "ok\n");
  const fstab = join(root, "fstab");
  writeFileSync(fstab, fstabFor(dataDir));
  return { root, fstab, name, namespace: new HostNamespace(fstab, dataDir, name) };
}

/**
 * Runs `cat /data/probe` on the host through the process starter, in its kept namespace (`kept`)
 * or one made for the command; resolves whether it printed "ok".
 */
export async function catProbe(host, kept = true) {
  const child = await spawnCommand({
    command: "cat /data/probe", env: { PATH: "/usr/bin:/bin", AUTOMNA_HOST_NAME: host.name }, cwd: host.root,
    isolation: "mount-namespace", fstab: host.fstab, namespace: kept ? host.namespace : undefined,
  });
  return new Promise((resolve) => {
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stdin.end();
    child.on("close", (code) => resolve(code === 0 && out === "ok\n"));
  });
}
