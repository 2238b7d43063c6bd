import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import type { SandboxEnv } from "../env.js";
import type { HostHandle } from "../host/index.js";
import type { SimHost } from "../hosts.js";
import type { Reply } from "../http.js";
import { ObjectStore } from "../s3-store.js";
import { MountSync } from "./mounts.js";
import { cfError, cfWorld, newSandbox, type CfMount, type CfSandbox } from "./state.js";

export const PROVIDER = "cloudflare-sandbox" as const;

/** The container's /workspace is its host's directory; a path under it maps there. */
export function workspacePath(host: SimHost, path: string): string | undefined {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts[0] !== "workspace" || parts.includes("..")) return undefined;
  return join(host.dir, ...parts.slice(1));
}

/** Whether a container path resolves inside /workspace (the bridge checks the string, as here). */
export function insideWorkspace(path: string): boolean {
  const stack: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") stack.pop();
    else stack.push(p);
  }
  return path.startsWith("/") && stack[0] === "workspace";
}

/**
 * The containers behind sandbox IDs: one starts on the first request for an ID that has none
 * (the bridge's pool assigns a new one whenever the last is not running), runs the agent when the
 * image does, mounts the Worker's bucket prefix, and sleeps `sleepAfterMs` after the last request,
 * losing its disk; the bucket's objects are all that stays.
 */
export class Containers {
  readonly #env: SandboxEnv;
  readonly #mounts = new Map<string, MountSync[]>();
  readonly #chains = new Map<string, Promise<unknown>>();
  /** Requests still being answered per sandbox (an exec stream open): the container does not sleep under them. */
  readonly #inFlight = new Map<string, number>();
  #store: ObjectStore | undefined;

  constructor(env: SandboxEnv) {
    this.#env = env;
    env.timeline.on("cfsb.sleep", (id) => void this.#sleepCheck(id));
    env.timeline.on("cfsb.flush", (id) => void this.#flushTick(id));
  }

  get world() {
    return cfWorld(this.#env);
  }

  /** The sandbox's S3 store (the same directory the S3 stand-in serves). */
  store(): ObjectStore {
    this.#store ??= new ObjectStore(join(dirname(this.#env.world.file), "s3"));
    return this.#store;
  }

  sandbox(id: string): CfSandbox {
    const w = this.world;
    w.sandboxes[id] ??= newSandbox(id);
    return w.sandboxes[id];
  }

  hostOf(sb: CfSandbox): SimHost {
    return this.#env.hosts.host(PROVIDER, sb.id, `sandbox-${sb.id.slice(0, 12)}`, sb.container?.address ?? "127.0.0.1");
  }

  handle(sb: CfSandbox): HostHandle | undefined {
    return sb.container ? this.#env.sim?.handle(this.hostOf(sb).key) : undefined;
  }

  /** Runs `fn` after everything else queued for this sandbox (starts, stops, flushes). */
  serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.#chains.set(id, next);
    void next.catch(() => undefined).finally(() => {
      if (this.#chains.get(id) === next) this.#chains.delete(id);
    });
    return next;
  }

  /** Counts a request (the sleep timer restarts) and starts a container when it has none; a Reply when none can start. */
  async touch(id: string): Promise<CfSandbox | Reply> {
    return this.serial(id, async () => {
      const sb = this.sandbox(id);
      sb.lastRequest = Date.now();
      if (sb.container) {
        this.#env.world.changed();
        return sb;
      }
      const running = Object.values(this.world.sandboxes).filter((s) => s.container).length;
      if (running >= this.world.maxInstances) {
        return cfError(503, "capacity_exceeded", `Maximum number of running container instances exceeded (${this.world.maxInstances})`);
      }
      sb.container = { uuid: randomUUID(), address: await this.#env.hosts.allocate(), started: Date.now() };
      sb.starts++;
      sb.mounts = [];
      sb.sessions = [];
      const host = this.hostOf(sb);
      if (sb.bootMount) await this.#mount(sb, host, sb.bootMount);
      await this.#env.hosts.set(host, true);
      this.#env.timeline.add("cfsb.sleep", sb.id, this.world.sleepAfterMs);
      this.#env.timeline.add("cfsb.flush", sb.id, this.#flushEveryMs());
      this.#env.world.changed();
      return sb;
    });
  }

  #flushEveryMs(): number {
    return Math.max(100, this.#env.delayMs);
  }

  /** Mounts a bucket prefix at a path under /workspace: its objects appear there. */
  async mount(sb: CfSandbox, mount: CfMount): Promise<Reply | undefined> {
    return this.serial(sb.id, async () => {
      if (!sb.container) return cfError(502, "mount_error", "mount failed: the container is not running");
      if (sb.mounts.some((m) => m.mountPath === mount.mountPath)) return cfError(502, "mount_error", "mount failed: Mount path already in use");
      if (!(await this.store().bucketExists(mount.bucket))) return cfError(502, "mount_error", `mount failed: bucket ${mount.bucket} does not exist`);
      await this.#mount(sb, this.hostOf(sb), mount);
      return undefined;
    });
  }

  async #mount(sb: CfSandbox, host: SimHost, mount: CfMount): Promise<void> {
    const dir = workspacePath(host, mount.mountPath);
    if (!dir) throw new Error(`the sandbox mounts only under /workspace, not ${mount.mountPath}`);
    const sync = new MountSync(this.store(), mount, dir);
    await sync.download();
    this.#mounts.set(sb.id, [...(this.#mounts.get(sb.id) ?? []), sync]);
    sb.mounts.push(mount);
    this.#env.world.changed();
  }

  async unmount(sb: CfSandbox, mountPath: string): Promise<Reply | undefined> {
    return this.serial(sb.id, async () => {
      const syncs = this.#mounts.get(sb.id) ?? [];
      const sync = syncs.find((s) => s.mount.mountPath === mountPath);
      if (!sync) return cfError(502, "unmount_error", `unmount failed: nothing is mounted at ${mountPath}`);
      await sync.flush();
      await sync.remove();
      this.#mounts.set(sb.id, syncs.filter((s) => s !== sync));
      sb.mounts = sb.mounts.filter((m) => m.mountPath !== mountPath);
      this.#env.world.changed();
      return undefined;
    });
  }

  /** Uploads what the container wrote to its mounts (s3fs uploads a file when it is closed). */
  flush(sb: CfSandbox): Promise<void> {
    return this.serial(sb.id, async () => {
      for (const s of this.#mounts.get(sb.id) ?? []) await s.flush();
    });
  }

  /** Stops the container: mounts flushed, processes gone, disk deleted. The ID stays usable. */
  async stop(sb: CfSandbox): Promise<void> {
    await this.serial(sb.id, async () => {
      if (!sb.container) return;
      for (const s of this.#mounts.get(sb.id) ?? []) await s.flush().catch((e: unknown) => this.#env.warn(`sandbox ${sb.id}: flush before stop: ${String(e)}`));
      this.#mounts.delete(sb.id);
      const host = this.hostOf(sb);
      sb.container = null;
      sb.mounts = [];
      sb.sessions = [];
      await this.#env.hosts.destroy(host);
      this.#env.world.changed();
    });
  }

  /** Runs `fn` as a request in flight: the sleep timer counts from when it ends. */
  async during<T>(sb: CfSandbox, fn: () => Promise<T>): Promise<T> {
    this.#inFlight.set(sb.id, (this.#inFlight.get(sb.id) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      this.#inFlight.set(sb.id, (this.#inFlight.get(sb.id) ?? 1) - 1);
      sb.lastRequest = Date.now();
    }
  }

  async #sleepCheck(id: string): Promise<void> {
    const sb = this.world.sandboxes[id];
    if (!sb?.container) return;
    if ((this.#inFlight.get(id) ?? 0) > 0) {
      this.#env.timeline.add("cfsb.sleep", id, this.world.sleepAfterMs);
      return;
    }
    const idle = Date.now() - sb.lastRequest;
    if (idle >= this.world.sleepAfterMs) await this.stop(sb);
    else this.#env.timeline.add("cfsb.sleep", id, this.world.sleepAfterMs - idle);
  }

  async #flushTick(id: string): Promise<void> {
    const sb = this.world.sandboxes[id];
    if (!sb?.container) return;
    await this.flush(sb).catch((e: unknown) => this.#env.warn(`sandbox ${id}: flush: ${String(e)}`));
    if (sb.container) this.#env.timeline.add("cfsb.flush", id, this.#flushEveryMs());
  }

  /** After a sandbox restart: containers that ran come back with their disk; mounts are read again. */
  resume(): void {
    for (const sb of Object.values(this.world.sandboxes)) {
      if (!sb.container) continue;
      const host = this.hostOf(sb);
      const mounts = sb.mounts;
      sb.mounts = [];
      void this.serial(sb.id, async () => {
        for (const m of mounts) await this.#mount(sb, host, m).catch((e: unknown) => this.#env.warn(`sandbox ${sb.id}: remount: ${String(e)}`));
        await this.#env.hosts.set(host, true);
      });
    }
  }

  delete(id: string): Promise<void> {
    const sb = this.world.sandboxes[id];
    return sb ? this.stop(sb) : Promise.resolve();
  }
}
