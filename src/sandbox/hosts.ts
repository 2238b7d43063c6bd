import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { closeServer, listen, type SandboxProvider } from "./util.js";

/** One simulated machine: a server, droplet or Fly machine with its own loopback address. */
export interface SimHost {
  /** `hetzner:51000001`, `digitalocean:480000001`, `fly:3d8d413b29d089`. */
  key: string;
  provider: SandboxProvider;
  /** Provider resource id. */
  id: string;
  name: string;
  /** 127.77.x.y */
  address: string;
  /** Files the host "has" (its /data, its env file) for modules that need a disk. */
  dir: string;
}

/**
 * A per-host service (the agent's health endpoint here; SSH later). `up` runs when the host
 * starts running, `down` when it stops, powers off or is deleted; both must be idempotent.
 */
export interface HostModule {
  name: string;
  up(host: SimHost): Promise<void>;
  down(host: SimHost): Promise<void>;
  /** The host is gone for good (deleted): remove what `up` left behind. */
  destroy?(host: SimHost): Promise<void>;
  close(): Promise<void>;
}

/** Answers `GET /healthz` 200 on `<address>:<port>` while the host runs, like the agent image does. */
export class HealthAgent implements HostModule {
  readonly name = "health";
  readonly #port: number;
  readonly #servers = new Map<string, Server>();
  readonly #onError: (message: string) => void;

  constructor(port: number, onError: (message: string) => void) {
    this.#port = port;
    this.#onError = onError;
  }

  async up(host: SimHost): Promise<void> {
    if (this.#servers.has(host.key)) return;
    const server = createServer((req, res) => {
      if (req.method === "GET" && (req.url === "/healthz" || req.url?.startsWith("/healthz?"))) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: "ok", host: host.name }));
        return;
      }
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    });
    server.keepAliveTimeout = 1000;
    this.#servers.set(host.key, server);
    try {
      await listen(server, this.#port, host.address);
    } catch (error) {
      this.#servers.delete(host.key);
      this.#onError(`health endpoint ${host.address}:${this.#port} for ${host.key}: ${(error as Error).message}`);
    }
  }

  async down(host: SimHost): Promise<void> {
    const server = this.#servers.get(host.key);
    if (!server) return;
    this.#servers.delete(host.key);
    await closeServer(server);
  }

  async close(): Promise<void> {
    const all = [...this.#servers.values()];
    this.#servers.clear();
    await Promise.all(all.map(closeServer));
  }
}

/** Addresses per /16: 127.B.0.1 .. 127.B.255.254 skipping .0 and .255 of each /24. */
const SLOTS = 256 * 254;

/**
 * Gives each new host a loopback address in `<base>.0.0/16` and drives the host modules as
 * hosts start and stop. On Linux all of 127.0.0.0/8 is bindable without setup. Parallel
 * sandboxes (tests) start their cursor at different places and probe the health port, so two
 * worlds rarely hand out the same address.
 */
export class Hosts {
  readonly modules: HostModule[] = [];
  readonly #base: string;
  readonly #probePorts: number[];
  readonly #inUse: Set<string>;
  readonly #dir: string;
  readonly #running = new Map<string, SimHost>();
  readonly #pending = new Map<string, Promise<void>>();
  #cursor: number;

  /**
   * `probePort`: the health port; `extraProbePorts`: other per-host ports (SSH), probed too, since
   * another sandbox's host whose agent is stopped still holds its address through its SSH server.
   */
  constructor(options: { base: string; probePort: number; extraProbePorts?: number[]; cursor: number; inUse: Iterable<string>; dir: string }) {
    this.#base = options.base;
    this.#probePorts = [options.probePort, ...(options.extraProbePorts ?? [])];
    this.#cursor = options.cursor % SLOTS;
    this.#inUse = new Set(options.inUse);
    this.#dir = options.dir;
  }

  get cursor(): number {
    return this.#cursor;
  }

  #slotAddress(slot: number): string {
    return `${this.#base}.${Math.floor(slot / 254)}.${(slot % 254) + 1}`;
  }

  /** A fresh address; probes a few candidates so another process's host is not reused. */
  async allocate(): Promise<string> {
    let fallback: string | null = null;
    let probes = 0;
    for (let tries = 0; tries < SLOTS && probes < 32; tries++) {
      const address = this.#slotAddress(this.#cursor);
      this.#cursor = (this.#cursor + 1) % SLOTS;
      if (this.#inUse.has(address)) continue;
      fallback ??= address;
      probes++;
      if (await probeAll(address, this.#probePorts)) {
        this.#inUse.add(address);
        return address;
      }
    }
    // Something holds the port on every candidate (e.g. a wildcard listener): hand out an
    // address anyway; its health endpoint will report the bind error.
    if (fallback === null) throw new Error(`no free address left in ${this.#base}.0.0/16`);
    this.#inUse.add(fallback);
    return fallback;
  }

  /** Adds a per-host service; hosts already running get `up` at once. */
  async register(module: HostModule): Promise<void> {
    this.modules.push(module);
    await this.settle();
    for (const host of this.running()) await module.up(host);
  }

  release(address: string): void {
    this.#inUse.delete(address);
  }

  /** Marks addresses the world's machines already hold (known once the stand-ins are made). */
  reserve(addresses: Iterable<string>): void {
    for (const a of addresses) this.#inUse.add(a);
  }

  host(provider: SandboxProvider, id: string | number, name: string, address: string): SimHost {
    const key = `${provider}:${id}`;
    return { key, provider, id: String(id), name, address, dir: join(this.#dir, "hosts", `${provider}-${id}`) };
  }

  /** Brings a host's services up or down; calls for one host run in order. */
  set(host: SimHost, running: boolean): Promise<void> {
    const previous = this.#pending.get(host.key) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this.#running.has(host.key) === running) return;
      if (running) {
        this.#running.set(host.key, host);
        for (const m of this.modules) await m.up(host);
      } else {
        this.#running.delete(host.key);
        for (const m of this.modules) await m.down(host);
      }
    });
    this.#pending.set(host.key, next);
    void next.finally(() => {
      if (this.#pending.get(host.key) === next) this.#pending.delete(host.key);
    });
    return next;
  }

  /** The host is deleted: stop it, let modules clean up, free the address. */
  destroy(host: SimHost): Promise<void> {
    // In the host's chain like up/down, so settle() also waits for the modules' clean-up.
    const next = this.set(host, false).then(async () => {
      for (const m of this.modules) await m.destroy?.(host);
      this.release(host.address);
    });
    this.#pending.set(host.key, next);
    void next.finally(() => {
      if (this.#pending.get(host.key) === next) this.#pending.delete(host.key);
    });
    return next;
  }

  /** Waits for every up/down in flight (tests, close). */
  async settle(): Promise<void> {
    await Promise.all([...this.#pending.values()]);
  }

  running(): SimHost[] {
    return [...this.#running.values()];
  }

  async close(): Promise<void> {
    await this.settle();
    await Promise.all(this.modules.map((m) => m.close()));
    this.#running.clear();
  }
}

async function probeAll(address: string, ports: number[]): Promise<boolean> {
  for (const port of ports) if (!(await probe(address, port))) return false;
  return true;
}

/** True when nothing listens on address:port (so a host of ours can). */
function probe(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, address, () => server.close(() => resolve(true)));
  });
}
