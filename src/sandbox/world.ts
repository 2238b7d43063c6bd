import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type {
  DoAction, DoDroplet, DoSshKey, FlyApp, FlyMachine, FlySecret, FlyVolume, HetznerAction, HetznerServer,
  HetznerSshKey, PendingTransition, WorldData,
} from "./world-types.js";

/** Where the world lives inside the sandbox directory. */
export const WORLD_FILE = "world.json";

/** Finished actions kept per provider; older ones are dropped so the file stays bounded. */
const MAX_FINISHED_ACTIONS = 50_000;

/** Where ids start, so they look like the providers' own (large integers, not 1, 2, 3). */
const COUNTER_START: Record<string, number> = {
  "hetzner.server": 51_000_000,
  "hetzner.action": 1_870_000_000,
  "hetzner.ssh_key": 24_000_000,
  "hetzner.ip": 80_000_000,
  "do.droplet": 480_000_000,
  "do.action": 2_400_000_000,
  "do.ssh_key": 43_000_000,
  "fly.app": 3_100_000,
};

/**
 * The in-memory world with O(1) lookups by id, persisted as one JSON file written atomically
 * (temp file + rename), debounced after each change and flushed on close. Maps keep insertion
 * order, which is id order, so lists need no sorting by default.
 */
export class World {
  readonly file: string;
  counters: Record<string, number>;
  addressCursor: number;
  readonly hetzner = {
    servers: new Map<number, HetznerServer>(),
    sshKeys: new Map<number, HetznerSshKey>(),
    actions: new Map<number, HetznerAction>(),
    /** Index name -> id (names are unique per project). */
    serverNames: new Map<string, number>(),
  };
  readonly digitalocean = {
    droplets: new Map<number, DoDroplet>(),
    sshKeys: new Map<number, DoSshKey>(),
    actions: new Map<number, DoAction>(),
    tags: new Set<string>(),
  };
  readonly fly = {
    apps: new Map<string, FlyApp>(),
    machines: new Map<string, FlyMachine>(),
    volumes: new Map<string, FlyVolume>(),
    /** Keyed `${app}/${name}`. */
    secrets: new Map<string, FlySecret>(),
  };
  pending = new Set<PendingTransition>();
  /**
   * The state of stand-ins without typed fields here (providers added through their manifest),
   * by provider id: plain JSON objects the stand-in owns, saved and reset with the rest.
   */
  extra: Record<string, Record<string, unknown>> = {};
  /** Runs before each write (the address cursor lives outside the world). */
  beforeSave: () => void = () => undefined;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #dirty = false;
  #lastWriteMs = 0;

  private constructor(file: string, data: WorldData) {
    this.file = file;
    this.counters = { ...data.counters };
    this.addressCursor = data.addressCursor;
    for (const s of data.hetzner.servers) {
      this.hetzner.servers.set(s.id, s);
      this.hetzner.serverNames.set(s.name, s.id);
    }
    for (const k of data.hetzner.sshKeys) this.hetzner.sshKeys.set(k.id, k);
    for (const a of data.hetzner.actions) this.hetzner.actions.set(a.id, a);
    for (const d of data.digitalocean.droplets) this.digitalocean.droplets.set(d.id, d);
    for (const k of data.digitalocean.sshKeys) this.digitalocean.sshKeys.set(k.id, k);
    for (const a of data.digitalocean.actions) this.digitalocean.actions.set(a.id, a);
    for (const t of data.digitalocean.tags) this.digitalocean.tags.add(t);
    for (const a of data.fly.apps) this.fly.apps.set(a.name, a);
    for (const m of data.fly.machines) this.fly.machines.set(m.id, m);
    for (const v of data.fly.volumes) this.fly.volumes.set(v.id, v);
    for (const s of data.fly.secrets) this.fly.secrets.set(`${s.app}/${s.name}`, s);
    for (const p of data.pending) this.pending.add(p);
    this.extra = data.extra ?? {};
  }

  static empty(file: string, addressCursor: number): World {
    return new World(file, emptyData(addressCursor));
  }

  /** Loads the world of a sandbox directory, or a fresh one when there is none. */
  static load(dir: string, addressCursor: number): World {
    const file = join(dir, WORLD_FILE);
    if (!existsSync(file)) return World.empty(file, addressCursor);
    let data: WorldData;
    try {
      data = JSON.parse(readFileSync(file, "utf8")) as WorldData;
    } catch (error) {
      throw new Error(`sandbox world file ${file} is not valid JSON (${(error as Error).message}); move it away to start a fresh world`, { cause: error });
    }
    if (data.version !== 1) throw new Error(`sandbox world file ${file} has unknown version ${String(data.version)}`);
    return new World(file, { ...emptyData(addressCursor), ...data });
  }

  /** The next id of a kind (persisted, never reused). */
  nextId(kind: string): number {
    const next = (this.counters[kind] ?? COUNTER_START[kind] ?? 1) + 1;
    this.counters[kind] = next;
    return next;
  }

  /** Schedules a debounced save; call after every change. */
  changed(): void {
    this.#dirty = true;
    if (this.#timer) return;
    // A big world takes a while to serialise: save at most every ten write-times.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.save();
    }, Math.max(200, this.#lastWriteMs * 10));
    this.#timer.unref();
  }

  /** Writes the world now (serialised with any write in flight). */
  save(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#writing = this.#writing.then(async () => {
      if (!this.#dirty) return;
      this.#dirty = false;
      this.beforeSave();
      const started = performance.now();
      const text = JSON.stringify(this.toData());
      const tmp = `${this.file}.${process.pid}.tmp`;
      await mkdir(join(this.file, ".."), { recursive: true });
      await writeFile(tmp, text, { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, this.file);
      this.#lastWriteMs = performance.now() - started;
    });
    return this.#writing;
  }

  /** Forces the next save() to write even if nothing changed since the last one. */
  markDirty(): void {
    this.#dirty = true;
  }

  /** Empties the world (admin reset), keeping id counters so ids are never reused. */
  reset(): void {
    for (const group of [this.hetzner, this.digitalocean, this.fly]) {
      for (const value of Object.values(group)) (value as Map<unknown, unknown> | Set<unknown>).clear();
    }
    this.pending.clear();
    this.extra = {};
    this.changed();
  }

  toData(): WorldData {
    return {
      version: 1,
      counters: this.counters,
      addressCursor: this.addressCursor,
      hetzner: {
        servers: [...this.hetzner.servers.values()],
        sshKeys: [...this.hetzner.sshKeys.values()],
        actions: trimActions([...this.hetzner.actions.values()], (a) => a.status === "running"),
      },
      digitalocean: {
        droplets: [...this.digitalocean.droplets.values()],
        sshKeys: [...this.digitalocean.sshKeys.values()],
        actions: trimActions([...this.digitalocean.actions.values()], (a) => a.status === "in-progress"),
        tags: [...this.digitalocean.tags],
      },
      fly: {
        apps: [...this.fly.apps.values()],
        machines: [...this.fly.machines.values()],
        volumes: [...this.fly.volumes.values()],
        secrets: [...this.fly.secrets.values()],
      },
      pending: [...this.pending],
      extra: this.extra,
    };
  }

  /** Resource counts, for status output. */
  counts(): Record<string, number> {
    return {
      hetznerServers: this.hetzner.servers.size,
      hetznerSshKeys: this.hetzner.sshKeys.size,
      digitaloceanDroplets: this.digitalocean.droplets.size,
      digitaloceanSshKeys: this.digitalocean.sshKeys.size,
      flyApps: this.fly.apps.size,
      flyMachines: [...this.fly.machines.values()].filter((m) => m.state !== "destroyed").length,
      flyVolumes: this.fly.volumes.size,
    };
  }
}

function trimActions<T>(actions: T[], running: (a: T) => boolean): T[] {
  if (actions.length <= MAX_FINISHED_ACTIONS) return actions;
  const finished = actions.filter((a) => !running(a));
  const drop = new Set(finished.slice(0, finished.length - MAX_FINISHED_ACTIONS));
  return actions.filter((a) => !drop.has(a));
}

function emptyData(addressCursor: number): WorldData {
  return {
    version: 1,
    counters: {},
    addressCursor,
    hetzner: { servers: [], sshKeys: [], actions: [] },
    digitalocean: { droplets: [], sshKeys: [], actions: [], tags: [] },
    fly: { apps: [], machines: [], volumes: [], secrets: [] },
    pending: [],
  };
}
