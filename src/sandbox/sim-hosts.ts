import { rm } from "node:fs/promises";
import type { HostModule, SimHost } from "./hosts.js";
import { startHost, type AgentOptions, type HostHandle, type LogEntry } from "./host/index.js";

/** What the provider API knows about a machine that its host needs at boot. */
export interface MachineFacts {
  /** Public keys registered for it through the provider API (Hetzner/DO `ssh_keys` on create). */
  authorizedKeys: string[];
  /** Its cloud-init user-data, where `ssh_keys.ed25519_private` may carry the host key. */
  userData: string | null;
  /**
   * It runs another command than the agent image's: a Fly machine whose config sets `init.exec`
   * (how automna holds an agent during a migration). Up, reachable, no agent.
   */
  held?: boolean;
}

export interface SimHostsOptions {
  /** SSH port on every host's own address. */
  sshPort: number;
  /** Simulated one-way network latency of SSH connections (default 0). */
  sshLatencyMs?: number | undefined;
  /** The agent's health port (default 8080 in the sandbox). */
  healthPort: number;
  agent?: AgentOptions | undefined;
  /** The machine's facts from the world; undefined when it is gone. */
  facts(host: SimHost): MachineFacts | undefined;
  /** Each agent log line of a host (for the Fly logs API); `backfill` for lines written before this process. */
  onLog?(host: SimHost, entry: LogEntry): void;
  warn(message: string): void;
  /** False while the host's provider is down (an outage fault): its SSH and health connections are reset. */
  reachable?(host: SimHost): boolean;
}

/**
 * cloud-init's `ssh_keys: {ed25519_private: ...}` from user-data, as its `cc_ssh` module reads
 * it: a double-quoted scalar (what automna writes) or a `|` block. Undefined when absent.
 */
/**
 * The content cloud-init's `write_files` gives /etc/automna/agent.env (the agent's plain `--env`
 * values), as automna writes it: a double-quoted scalar. Undefined when user-data has none.
 */
export function envFileFromUserData(userData: string | null): string | undefined {
  if (!userData) return undefined;
  const lines = userData.split(/\r?\n/);
  const at = lines.findIndex((l) => /^\s*- path: \/etc\/automna\/agent\.env\s*$/.test(l));
  if (at < 0) return undefined;
  for (let i = at + 1; i < lines.length && !/^\s*- /.test(lines[i]!) && /^\s+\S/.test(lines[i]!); i++) {
    const m = /^\s+content:\s*(".*")\s*$/.exec(lines[i]!);
    if (!m) continue;
    try {
      return JSON.parse(m[1]!) as string;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function hostKeyFromUserData(userData: string | null): string | undefined {
  if (!userData) return undefined;
  const lines = userData.split(/\r?\n/);
  const start = lines.findIndex((l) => /^ssh_keys:\s*$/.test(l));
  if (start < 0) return undefined;
  for (let i = start + 1; i < lines.length && /^\s+\S/.test(lines[i]!); i++) {
    const m = /^(\s+)ed25519_private:\s*(.*)$/.exec(lines[i]!);
    if (!m) continue;
    const value = m[2]!.trim();
    if (value.startsWith('"')) {
      try {
        // YAML's double-quoted escapes include JSON's, which is all a key needs.
        return JSON.parse(value) as string;
      } catch {
        return undefined;
      }
    }
    if (value.startsWith("|")) {
      const block: string[] = [];
      const indent = m[1]!.length;
      for (let j = i + 1; j < lines.length; j++) {
        const line = lines[j]!;
        const lead = /^\s*/.exec(line)![0].length;
        if (line.trim() !== "" && lead <= indent) break;
        block.push(line);
      }
      const strip = Math.min(...block.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)![0].length));
      return `${block.map((l) => l.slice(strip)).join("\n").trimEnd()}\n`;
    }
  }
  return undefined;
}

/** How many earlier log lines a host hands to `onLog` when this process first starts it. */
const BACKFILL = 200;

/**
 * Every running server, droplet and machine as a simulated host (src/sandbox/host/): SSH on its
 * own loopback address accepting only the keys registered for it, with the host key from its
 * user-data when automna supplied one; the agent container with its logs, data and health
 * endpoint. Power off/on maps to stop/start; deletion closes the host and removes its disk.
 */
export class SimHosts implements HostModule {
  readonly name = "host";
  readonly #options: SimHostsOptions;
  readonly #handles = new Map<string, { handle: HostHandle; unsubscribe: () => void }>();
  /** Why a host could not start (its address or port was taken...), for error messages. */
  readonly #failed = new Map<string, string>();

  constructor(options: SimHostsOptions) {
    this.#options = options;
  }

  get sshPort(): number {
    return this.#options.sshPort;
  }

  /** The running (or powered-off) host of `provider:id`. */
  handle(key: string): HostHandle | undefined {
    return this.#handles.get(key)?.handle;
  }

  /** Why `key`'s host is not running, when it failed to start. */
  failure(key: string): string | undefined {
    return this.#failed.get(key);
  }

  async up(host: SimHost): Promise<void> {
    const known = this.#handles.get(host.key);
    const facts = this.#options.facts(host);
    if (known) {
      await known.handle.start({ held: facts?.held === true });
      return;
    }
    if (!facts) return;
    const hostKey = hostKeyFromUserData(facts.userData);
    const envFile = envFileFromUserData(facts.userData);
    let handle: HostHandle;
    try {
      handle = await startHost({
        id: host.name, address: host.address, sshPort: this.#options.sshPort, sshLatencyMs: this.#options.sshLatencyMs ?? 0, rootDir: host.dir, authorizedKeys: facts.authorizedKeys,
        ...(hostKey ? { hostKey } : {}), ...(envFile !== undefined ? { firstBootEnvFile: envFile } : {}), healthPort: this.#options.healthPort, ...(this.#options.agent ? { agent: this.#options.agent } : {}), held: facts.held === true,
        ...(this.#options.reachable ? { reachable: () => this.#options.reachable!(host) } : {}),
        onError: (error) => this.#options.warn(`host ${host.key}: ${error.message}`),
      });
    } catch (error) {
      const message = `host ${host.key} (${host.address}, ssh port ${this.#options.sshPort}): ${(error as Error).message}`;
      this.#failed.set(host.key, message);
      this.#options.warn(message);
      return;
    }
    this.#failed.delete(host.key);
    let unsubscribe = (): void => undefined;
    const onLog = this.#options.onLog;
    if (onLog) {
      for (const entry of await handle.logs({ tail: BACKFILL })) onLog(host, entry);
      unsubscribe = handle.subscribeLogs((entry) => onLog(host, entry));
    }
    this.#handles.set(host.key, { handle, unsubscribe });
  }

  /** Resets the open SSH connections of `provider`'s hosts (an outage began). */
  cutOff(provider: string): void {
    for (const [key, { handle }] of this.#handles) if (key.startsWith(`${provider}:`)) handle.dropConnections();
  }

  async down(host: SimHost): Promise<void> {
    await this.#handles.get(host.key)?.handle.stop();
  }

  async destroy(host: SimHost): Promise<void> {
    const known = this.#handles.get(host.key);
    this.#handles.delete(host.key);
    if (known) {
      known.unsubscribe();
      await known.handle.close();
    }
    // The machine's disk goes with it.
    await rm(host.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    const all = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.all(all.map(async ({ handle, unsubscribe }) => {
      unsubscribe();
      await handle.close();
    }));
  }
}
