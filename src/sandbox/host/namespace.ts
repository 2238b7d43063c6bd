import { statSync } from "node:fs";
import { namespaceSetUp, unshareArgs } from "./isolation.js";
import { spawnThroughHelper, type HostProcess } from "./spawner.js";

/**
 * A host's mount and UTS namespace under `mount-namespace` isolation, made once and kept while the
 * host runs; its commands join it with `nsenter`. Making one per command took `unshare`, a shell
 * and a `mount` before every command: a command cost the machine ~22 ms of CPU that way against
 * ~16 ms now (bench/host-namespace.mjs).
 *
 * The namespace is kept by a holder process, `cat` reading a connection of this process: it ends
 * when the host closes, or when this process goes and the connection with it. A data directory
 * that was removed and made again would still show the old one through the bind mount, so a new
 * namespace is made then; commands still running keep the one they joined. A host whose
 * namespace cannot be made (its mounts fail) is not asked again: its commands make their own.
 */
export class HostNamespace {
  #holder: Promise<Holder | undefined> | undefined;

  constructor(
    readonly fstab: string,
    readonly dataDir: string,
    readonly hostname: string,
  ) {}

  /**
   * `nsenter`'s arguments up to the command, joining the namespace (and `cwd`); undefined when no
   * namespace could be kept, and then the caller makes one for the command.
   */
  async enterArgs(cwd: string): Promise<string[] | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const data = identityOf(this.dataDir);
      const pending = (this.#holder ??= this.#start(data));
      const holder = await pending;
      if (!holder) return undefined;
      if (holder.process.exitCode === null && holder.process.signalCode === null && holder.data === data) {
        return ["nsenter", "-t", String(holder.process.pid), "--mount", "--uts", `--wd=${cwd}`, "--"];
      }
      // Gone, or the data directory was replaced: the next attempt makes a new one.
      if (this.#holder === pending) {
        this.#holder = undefined;
        holder.process.stdin.end();
      }
    }
    return undefined;
  }

  /** Lets the holder go (commands that joined keep the namespace until they end); a later command makes a new one. */
  close(): void {
    const holder = this.#holder;
    this.#holder = undefined;
    void holder?.then((h) => h?.process.stdin.end());
  }

  async #start(data: string): Promise<Holder | undefined> {
    // After "ready" the holder writes nothing: its stdout and stderr go to /dev/null, so only its
    // stdin's connection stays open here (one file per host; 1,000 hosts in bench/namespace-holders.mjs).
    const script = `${namespaceSetUp(this.fstab)} || exit 1; echo ready; exec cat >/dev/null 2>&1`;
    let proc: HostProcess;
    try {
      proc = await spawnThroughHelper({
        file: "unshare", args: unshareArgs(script), cwd: "/", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", AUTOMNA_HOST_NAME: this.hostname },
      });
    } catch {
      return undefined;
    }
    const ready = await new Promise<boolean>((resolve) => {
      let out = "";
      proc.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes("ready\n")) resolve(true);
      });
      proc.once("exit", () => resolve(false));
    });
    if (!ready) {
      proc.stdin.end();
      return undefined;
    }
    // Ready: from now on it lives as long as the host does, and keeps nothing alive itself.
    proc.unref();
    return { process: proc, data };
  }
}

interface Holder {
  process: HostProcess;
  /** The data directory's identity when the namespace bound it. */
  data: string;
}

/** Which directory a path is now (device and inode), so a replaced one is told apart; "" if it is missing. */
function identityOf(path: string): string {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return "";
  }
}
