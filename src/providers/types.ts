import type { HostKeyPair } from "../access/host-key-gen.js";
import type { Secret } from "../lib/redact.js";
import type { StorageSettings } from "../lib/s3-presign.js";
import type { ApiBinding } from "./binding.js";
import type { InstanceStatus, UsageKind } from "../state/types.js";
import type { ProviderId } from "./catalog.js";

/**
 * The Provider interface: everything automna does to a cloud goes through one of these. Commands
 * ask the registry (src/providers/index.ts) for a Provider by id and never see HTTP, wire types
 * or provider names in conditionals. Provider objects are cheap: one per provider per process,
 * holding an HTTP client whose keep-alive pool is closed with the Context.
 *
 * Every create carries an operation marker (`opId`, a label/metadata/tag on the resource), so a
 * create whose answer was lost (timeout, 408, 5xx) is looked up by marker and adopted instead of
 * being sent a second time.
 */

/** What a user's agent instance should be. */
export interface ProvisionSpec {
  user: string;
  region: string;
  size: string;
  image: string;
  /** Plain environment for the agent container (goes into user-data or machine config). */
  env: Record<string, string>;
  /**
   * Secret environment. Fly keeps them as app secrets; VM providers ignore them here (never in
   * user-data): provisioning writes them over SSH once the machine runs (src/access/deliver-secrets.ts).
   */
  secrets: Record<string, Secret>;
  /** The operation marker; the same value on a retried create finds the first attempt's resource. */
  opId: string;
  /** The agent's health check, baked into the instance definition where the provider has checks. */
  health: { port: number; path: string };
  /** Return once the create is accepted, without waiting for it to finish booting. */
  noWait?: boolean;
  /**
   * Create it with the agent held (instance up, /data mounted, agent not running), for a
   * migration target that must not serve before its data is in place. Honoured where
   * access().createsHeld says so; elsewhere the agent starts and the caller holds it.
   */
  hold?: boolean;
  /**
   * The machine's SSH host key, for providers reached over SSH: cloud-init installs it
   * (`ssh_keys`), so automna knows the key before the machine first answers. Never logged.
   */
  hostKey?: HostKeyPair;
  /** `provision --allow-sleep`: a provider whose instances sleep when idle (Cloudflare Sandbox) provisions anyway. */
  allowSleep?: boolean;
}

/** An instance as the provider sees it now, in automna's terms. */
export interface ProviderInstance {
  provider: ProviderId;
  /** The automna user it belongs to (from its marker). */
  user: string;
  /** The operation marker it was created with, if any. */
  opId: string | null;
  region: string;
  size: string;
  image: string | null;
  status: InstanceStatus;
  /** The provider's own status word (`running`, `active`, `started`...). */
  providerStatus: string;
  /** Provider resource ids: `{ server }`, `{ droplet }`, `{ app, machine, volume }`. */
  resources: Record<string, string>;
  /** `ipv4`, `ipv6`, `private`, `hostname`, as known. */
  addresses: Record<string, string>;
  createdAt: string | null;
}

/** One billed component of an instance, priced at creation. */
export interface BillingItem {
  kind: UsageKind;
  /** 1 for a server or an address, GB for a volume. */
  quantity: number;
  /** Per unit per hour. */
  hourlyPrice: number;
  /** Per unit per month (the cap for hourly-billed VMs), null when there is none. */
  monthlyPrice: number | null;
  currency: string;
  /** `live` when read from the provider's API, `catalog` from automna's table. */
  source: "live" | "catalog";
}

export interface ProvisionResult {
  instance: ProviderInstance;
  /** True when an earlier attempt's resource (same marker) was found and adopted. */
  adopted: boolean;
  billing: BillingItem[];
}

export interface SizeInfo {
  name: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number | null;
  /** Regions where it can be created (empty: all). */
  regions: string[];
  hourlyPrice: number;
  monthlyPrice: number;
  currency: string;
  source: "live" | "catalog";
}

export interface RegionInfo {
  name: string;
  description: string;
  available: boolean;
}

/** Things a provider may not be able to do; the map says why, in words for the user. */
export type Capability = "secrets" | "volumes" | "stop" | "ssh" | "exec" | "logs" | "liveSizes" | "livePrices" | "inbound" | "alwaysOn";

export type CredentialCheck = { ok: true; account?: string } | { ok: false; reason: string };

/** Progress hooks, so a command can show steps and record ids the moment they exist. */
export interface ProvisionHooks {
  /** A step began ("creating server", "waiting for action 42"). */
  step?(text: string): void;
  /** Resource ids are known (called before waiting): the caller writes them to state at once. */
  created?(partial: Pick<ProviderInstance, "resources" | "addresses">): Promise<void> | void;
}

/** What a command run on an instance through a provider's API returned. */
export interface RemoteExecResult {
  exitCode: number;
  /** The signal that ended it, if one did. */
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
}

/** One line of an instance's log, from a provider's log API. */
export interface RemoteLogEntry {
  /** RFC 3339, as the provider printed it. */
  time: string;
  line: string;
}

/** The output of a command run through a provider's API, one chunk at a time. */
export type RemoteOutputHook = (stream: "stdout" | "stderr", chunk: Buffer) => void;

export interface RemoteExecOptions {
  stdin?: Buffer;
  timeoutMs?: number;
  /**
   * Each output chunk as the API delivers it (the result's stdout and stderr are then empty):
   * while the command runs where the API streams (Koyeb's exec WebSocket, the Cloudflare bridge's
   * SSE), at its end where the API answers once (Fly's exec endpoint).
   */
  onOutput?: RemoteOutputHook;
}

/**
 * Access to a running instance through the provider's own API, for providers whose machines
 * automna does not reach with OpenSSH (Fly: Machines API exec, the logs API, flyctl). Providers
 * without it are reached over SSH at the instance's address (src/access/).
 */
export interface ProviderRemote {
  /**
   * Runs argv on the instance with the whole of stdin, and returns its exit and the whole output
   * (or hands the output to `onOutput` as it comes). An API that carries only text (Fly's JSON
   * strings) refuses stdin that is not UTF-8.
   */
  exec(instance: Pick<ProviderInstance, "resources">, argv: string[], options: RemoteExecOptions): Promise<RemoteExecResult>;
  /** One poll of the log API: the entries after `cursor` (oldest first) and the cursor for the next poll. */
  logs(instance: Pick<ProviderInstance, "resources">, cursor: string | undefined): Promise<{ entries: RemoteLogEntry[]; cursor: string | undefined }>;
  /**
   * A live log stream, where the provider has one (Koyeb's tail WebSocket): entries from `start`
   * (RFC 3339, inclusive) on, oldest first, until the signal aborts (resolves) or the stream ends
   * (resolves: the caller resumes it) or fails (rejects). Without it, a follow polls `logs`.
   */
  tail?(instance: Pick<ProviderInstance, "resources">, start: string, onEntries: (entries: RemoteLogEntry[]) => void, signal: AbortSignal): Promise<void>;
  /** The provider's own CLI for an interactive shell on the instance (e.g. `flyctl ssh console`). */
  shell(instance: Pick<ProviderInstance, "resources" | "user">): { program: string; args: string[]; install: string };
}

/** A resource at a provider as `automna import` sees it: its name and whose automna marker it carries. */
export interface ImportCandidate {
  /** The provider's name for it (server/droplet name, Fly app name), which `--match` reads. */
  name: string;
  /** The id a mapping names it by (what `lookup` takes): a server or droplet id, a Fly app name. */
  id: string;
  instance: ProviderInstance;
  /** The automna user its markers name, or null when it carries none (made outside automna). */
  markedUser: string | null;
  /** The agent's container image where the provider knows it (a Fly machine's); null for VMs, whose API knows only the OS image. */
  agentImage: string | null;
}

/**
 * Taking over resources automna did not make (`automna import`): found by the provider's own
 * id or by name, whether or not they carry automna's markers, then given them.
 */
export interface ProviderImport {
  /** What the mapping's id names here, for messages ("server id", "app name"). */
  readonly idLabel: string;
  /** Where automna reads an agent's data on this provider: a mapping's data location must be one of these. */
  readonly dataLocations: readonly string[];
  /** What is wrong with an id given for this provider (a mapping row's), or undefined when it can be one. */
  checkId(id: string): string | undefined;
  /**
   * The resource with this provider id; undefined when there is none (gone, or never was). `row`
   * is the mapping's user and data location, for providers that find a resource through its data
   * (a Cloudflare sandbox: its bridge cannot say whether an ID is in use, its R2 prefix can).
   */
  lookup(id: string, row?: { user: string; data?: string | undefined }): Promise<ImportCandidate | undefined>;
  /**
   * What is wrong with a mapping's data location for this user; undefined when it will do. Absent:
   * the location must be one of `dataLocations`.
   */
  checkData?(user: string, data: string): string | undefined;
  /** Every resource of the account, marked or not (all pages), for `--match`. */
  listAll(): Promise<ImportCandidate[]>;
  /**
   * Puts automna's markers on the resource (labels, tags or metadata, added to what it has,
   * nothing else changed and no restart), so list, doctor and a retried import see it as the user's.
   */
  mark(instance: ProviderInstance, user: string, opId: string): Promise<void>;
}

export interface Provider {
  readonly id: ProviderId;
  readonly title: string;
  /** Unsupported capability -> the reason, shown when a command needs it (from the manifest). */
  readonly capabilities: Readonly<Partial<Record<Capability, string>>>;
  /** `ssh`: instances are reached with OpenSSH and a pinned host key; `api`: through the provider's API. */
  readonly reach: "ssh" | "api";

  /**
   * The endpoint this provider object talks to and, where the provider names it, the account its
   * token belongs to (recorded on every instance it makes; see binding.ts). Asks the API at most
   * once per process.
   */
  api(): Promise<ApiBinding>;
  /** Does the configured token work? Never throws for a bad token: returns the reason. */
  checkCredentials(): Promise<CredentialCheck>;
  regions(): Promise<RegionInfo[]>;
  /** Sizes with prices; live from the API where the provider publishes them, else the catalog. */
  sizes(): Promise<SizeInfo[]>;
  /** What one instance of this size in this region costs, per component. */
  billing(size: string, region: string): Promise<BillingItem[]>;

  /** Creates (or adopts, by marker) the user's instance and, unless noWait, waits until it runs. */
  provision(spec: ProvisionSpec, hooks?: ProvisionHooks): Promise<ProvisionResult>;
  /** The user's instance as the provider sees it, or undefined when it has none. */
  get(user: string): Promise<ProviderInstance | undefined>;
  /** Every automna-marked instance on this provider (all pages). */
  list(): Promise<ProviderInstance[]>;
  /** Finds an instance by its operation marker. */
  findByMarker(opId: string): Promise<ProviderInstance | undefined>;
  start(instance: Pick<ProviderInstance, "resources">): Promise<void>;
  stop(instance: Pick<ProviderInstance, "resources">): Promise<void>;
  /**
   * Removes every resource of the instance, in the order the provider needs, waiting for each.
   * Resources already gone are not an error. Returns what was removed. `deleteData`: also the
   * data the provider keeps apart from the instance (a Cloudflare sandbox's R2 prefix), which is
   * kept otherwise.
   */
  destroy(instance: Pick<ProviderInstance, "resources" | "user">, options?: { deleteData?: boolean }): Promise<string[]>;
  /**
   * How automna reaches one of its instances and runs its agent: commands, logs and shells, the
   * agent's environment, holding and releasing the agent, and where its DNS name points. VM
   * providers share one implementation (src/providers/vm/access.ts: OpenSSH, an env file, Docker);
   * the others answer through their own APIs.
   */
  access(instance: AccessInstance): InstanceAccess;
  /** Waits until the instance reaches the state (or fails, or the timeout passes). */
  wait(instance: Pick<ProviderInstance, "resources">, state: "running" | "stopped", timeoutMs?: number): Promise<ProviderInstance>;
  /** Frees connections. */
  close(): Promise<void>;
  /** Present when `automna import` can take over this provider's resources. */
  readonly importer?: ProviderImport;
}

/** What access() needs of an instance (a state row or what the provider reported). */
export type AccessInstance = Pick<ProviderInstance, "resources" | "addresses" | "user"> & { image: string };

/** Runs a script on the instance (stdin optional) and returns its stdout; a non-zero exit throws. */
export type InstanceScript = (what: string, script: string, stdin?: string) => Promise<string>;

/** A change to the agent's environment: values to set, names to remove. */
export interface AgentEnvChange {
  set: Record<string, Secret>;
  unset: string[];
}

export interface InstanceAccess {
  /**
   * Commands, logs and an interactive shell through the provider's API; undefined when the
   * instance is reached with OpenSSH at its address (src/access/), as the manifest's `reach` says.
   */
  readonly api: ProviderRemote | undefined;
  /**
   * Whether a create with `hold` comes up with the agent held. Otherwise the agent starts and the
   * caller holds it.
   */
  readonly createsHeld: boolean;
  /** The agent's environment, plain variables and secrets alike. `run` reaches the instance. */
  readEnv(run: InstanceScript): Promise<Record<string, Secret>>;
  /** Sets and removes variables; with `restart`, the agent restarts with them. Returns whether anything changed. */
  updateEnv(change: AgentEnvChange, run: InstanceScript, options: { port: number; restart: boolean }): Promise<boolean>;
  /**
   * Holds the agent (not running, while the instance stays up with /data in place and commands
   * working) or releases it. Idempotent.
   */
  hold(held: boolean, run: InstanceScript): Promise<void>;
  /** What the user's DNS name should point at; undefined while the instance has no address. */
  route(): { address: string } | { hostname: string } | undefined;
  /**
   * Where the agent's data lives when it is not on a disk automna reaches (a Cloudflare sandbox's
   * R2 prefix): a migration reads it from object storage (listing, checksums, presigned GETs the
   * target fetches) instead of running scripts on the source.
   */
  readonly objectData?: { storage: StorageSettings; prefix: string };
}

/** The instance name automna gives a user's resources on every provider. */
export function resourceName(user: string): string {
  return `automna-${user}`;
}
