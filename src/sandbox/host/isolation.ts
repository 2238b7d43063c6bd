import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { shellQuote } from "../../lib/known-hosts.js";
import { HOST_DATA_PATH } from "./container-view.js";

/**
 * How a host's commands see its data. Commands run as the sandbox's own OS user on this machine,
 * so `/data` is not the host's directory by itself. As root with `unshare` available, each command
 * runs in a private mount namespace with `<rootDir>/data` bind-mounted at `/data` and at
 * `/var/lib/automna/data`, so scripts use the real paths (the namespace also gets the host's own
 * hostname). Otherwise commands get `$AUTOMNA_DATA` only. Either way `$AUTOMNA_DATA` is set.
 */
export type Isolation = "mount-namespace" | "env";

/** The paths bound to the host's data directory under `mount-namespace`. */
export const DATA_MOUNT_POINTS = ["/data", HOST_DATA_PATH];

let probed: Promise<Isolation> | undefined;

/** Whether mount namespaces work here; probed once per process (a property of the machine). */
export function detectIsolation(): Promise<Isolation> {
  probed ??= probe();
  return probed;
}

async function probe(): Promise<Isolation> {
  const unshare = findExecutable("unshare");
  if (process.getuid?.() !== 0 || !unshare) return "env";
  const dir = await mkdtemp(join(tmpdir(), "automna-ns-probe-"));
  try {
    // The mount points must exist on the real filesystem; they stay empty outside namespaces.
    for (const p of DATA_MOUNT_POINTS) await mkdir(p, { recursive: true });
    await mkdir(join(dir, "data"));
    await writeFile(join(dir, "data", "probe"), "ok");
    await writeFile(join(dir, "fstab"), fstabFor(join(dir, "data")));
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(unshare, [...namespaceArgs(join(dir, "fstab")), "test", "-f", "/var/lib/automna/data/probe"], { stdio: "ignore", env: { AUTOMNA_HOST_NAME: "probe", PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
      child.on("error", () => resolve(null));
      child.on("close", (c) => resolve(c));
    });
    return code === 0 ? "mount-namespace" : "env";
  } catch {
    return "env";
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * unshare's arguments up to the command: a private mount and UTS namespace in which a shell
 * mounts the host's fstab (its data directory bound at each mount point), sets the hostname,
 * then execs the command. A namespace of its own per command: the probe's, and a host's commands'
 * when the host's kept namespace (namespace.ts) could not be made.
 */
export function namespaceArgs(fstab: string): string[] {
  return [...unshareArgs(`${namespaceSetUp(fstab)}; exec "$@"`), "automna-host"];
}

/** unshare's arguments for a shell script run in a private mount and UTS namespace of its own. */
export function unshareArgs(script: string): string[] {
  return ["--mount", "--uts", "--propagation", "private", "--", "/bin/sh", "-c", script];
}

/** Shell that mounts the host's fstab and, where it may, sets the hostname; fails when the mounts do. */
export function namespaceSetUp(fstab: string): string {
  return `mount -a -T ${shellQuote(fstab)} && { { echo "$AUTOMNA_HOST_NAME" > /proc/sys/kernel/hostname; } 2>/dev/null || true; }`;
}

/** fstab lines binding `dataDir` at each data mount point (fstab escapes blanks octally). */
export function fstabFor(dataDir: string): string {
  const esc = (p: string) => p.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  return DATA_MOUNT_POINTS.map((p) => `${esc(dataDir)} ${p} none bind 0 0\n`).join("");
}

/** The absolute path of a program on PATH, or undefined. */
export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
