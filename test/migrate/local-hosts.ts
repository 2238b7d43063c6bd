import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { onPath } from "../../src/access/shell.js";
import type { ExecResult, HostRunner } from "../../src/migrate/types.js";
import type { Instance } from "../../src/state/types.js";

/**
 * ENGINE UNIT TESTS ONLY: a stand-in for the exec transport (OpenSSH / Fly exec). Each instance is
 * a directory with its own `data/` (its /data) and HOME; commands run in a real /bin/sh with the
 * real tar, sha256sum and curl against the real object-store stand-in. `docker stop|start
 * automna-agent` is a shim that records the agent's state in `<dir>/agent`. The integration tests
 * use the sandbox's hosts over real ssh instead.
 */
export class LocalHosts {
  readonly root: string;
  readonly commands: { key: string; command: string }[] = [];
  #bin: string;
  #path: string;
  #shell: [string, string[]];

  /**
   * `busybox`: the userland of an Alpine-like image (busybox's sh, find without -printf, stat, tar,
   * awk, sha256sum...), with the real curl beside it, which the data path needs and busybox lacks.
   */
  constructor(root: string, userland: "gnu" | "busybox" = "gnu") {
    this.root = root;
    this.#bin = join(root, "bin");
    mkdirSync(this.#bin, { recursive: true });
    this.#path = `${this.#bin}:/usr/local/bin:/usr/bin:/bin`;
    this.#shell = ["/bin/sh", []];
    if (userland === "busybox") {
      const busybox = onPath("busybox", process.env);
      if (!busybox) throw new Error("busybox is not installed: apt-get install busybox (.ci/clients.sh installs it)");
      const applets = join(root, "busybox");
      mkdirSync(applets, { recursive: true });
      for (const applet of execFileSync(busybox, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean)) symlinkSync(busybox, join(applets, applet));
      symlinkSync(onPath("curl", process.env)!, join(this.#bin, "curl"));
      this.#path = `${this.#bin}:${applets}`;
      this.#shell = [busybox, ["sh"]];
    }
    const shim = join(this.#bin, "docker");
    writeFileSync(shim, `#!/bin/sh\ncase "$1" in stop) echo stopped > "$HOME/agent" ;; start) echo running > "$HOME/agent" ;; *) echo "docker: '$1' is not a docker command." >&2; exit 1 ;; esac\n`);
    chmodSync(shim, 0o755);
    // A machine that has booted (the dev machine's own cloud-init, if installed, would wait forever).
    writeFileSync(join(this.#bin, "cloud-init"), "#!/bin/sh\necho 'status: done'\n", { mode: 0o755 });
  }

  key(instance: Pick<Instance, "provider" | "resources">): string {
    const r = instance.resources;
    return `${instance.provider}-${r.server ?? r.droplet ?? r.machine ?? "none"}`;
  }

  dir(instance: Pick<Instance, "provider" | "resources">): string {
    const dir = join(this.root, "hosts", this.key(instance));
    mkdirSync(join(dir, "data"), { recursive: true });
    return dir;
  }

  readonly run: HostRunner = (instance, command, options = {}) => {
    const dir = this.dir(instance);
    this.commands.push({ key: this.key(instance), command });
    return new Promise<ExecResult>((resolve, reject) => {
      const [shell, args] = this.#shell;
      const child = spawn(shell, [...args, "-c", command], {
        cwd: dir,
        env: { PATH: this.#path, HOME: dir, AUTOMNA_DATA: join(dir, "data"), LC_ALL: "C" },
        stdio: ["pipe", "pipe", "pipe"],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.on("data", (d: Buffer) => err.push(d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ exitCode: code ?? 255, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.stdin ?? "");
    });
  };
}
