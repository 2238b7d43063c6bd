/**
 * The sandbox's world: every resource the three provider stand-ins hold, in a JSON-friendly
 * form. Each stand-in renders these records into its provider's wire format; the records keep
 * only what cannot be derived (catalog data such as server types is looked up at render time).
 */

export type HetznerServerStatus = "initializing" | "starting" | "running" | "stopping" | "off" | "deleting" | "rebuilding" | "migrating" | "unknown";

export interface HetznerServer {
  id: number;
  name: string;
  serverType: string;
  location: string;
  imageId: number;
  labels: Record<string, string>;
  status: HetznerServerStatus;
  created: number;
  ipv4: string;
  ipv4Id: number;
  ipv6: string;
  ipv6Id: number;
  sshKeys: number[];
  userData: string | null;
  /** The simulated agent answers while true. */
  agentUp: boolean;
}

export interface HetznerSshKey {
  id: number;
  name: string;
  publicKey: string;
  fingerprint: string;
  labels: Record<string, string>;
  created: number;
}

export interface HetznerAction {
  id: number;
  command: string;
  status: "running" | "success" | "error";
  started: number;
  finished: number | null;
  /** When it finishes (ms epoch). */
  due: number;
  resources: { id: number; type: string }[];
  error: { code: string; message: string } | null;
}

export interface DoDroplet {
  id: number;
  name: string;
  size: string;
  region: string;
  imageId: number;
  tags: string[];
  status: "new" | "active" | "off" | "archive";
  locked: boolean;
  created: number;
  ipv4: string;
  /** The public address is visible once the droplet is active. */
  networkReady: boolean;
  sshKeys: number[];
  userData: string | null;
  vpcUuid: string;
  agentUp: boolean;
  /** Made with the second account's token (absent: the sandbox's own account); other accounts never see it. */
  account?: "second";
}

export interface DoSshKey {
  id: number;
  name: string;
  publicKey: string;
  fingerprint: string;
}

export interface DoAction {
  id: number;
  type: string;
  status: "in-progress" | "completed" | "errored";
  started: number;
  completed: number | null;
  due: number;
  resourceId: number;
  resourceType: string;
  region: string;
}

export interface FlyApp {
  id: string;
  name: string;
  org: string;
  network: string;
  internalId: number;
  created: number;
  idempotencyKey: string | null;
  secretsVersion: number;
}

export interface FlySecret {
  app: string;
  name: string;
  value: string;
  digest: string;
  created: number;
  updated: number;
}

export interface FlyMachineEvent {
  id: string;
  type: string;
  status: string;
  source: string;
  timestamp: number;
}

export interface FlyMachine {
  id: string;
  app: string;
  name: string;
  region: string;
  state: string;
  version: string;
  config: Record<string, unknown>;
  privateIp: string;
  created: number;
  updated: number;
  events: FlyMachineEvent[];
  agentUp: boolean;
  /** Bumped by every command; a scheduled transition from an older command is ignored. */
  seq: number;
}

export interface FlyVolume {
  id: string;
  app: string;
  name: string;
  region: string;
  zone: string;
  sizeGb: number;
  encrypted: boolean;
  state: string;
  created: number;
  attachedMachineId: string | null;
  snapshotRetention: number;
  autoBackup: boolean;
  fstype: string;
}

/** A state change that happens later (an action finishing, a machine reaching "started"). */
export interface PendingTransition {
  due: number;
  kind: string;
  ref: string;
}

export interface WorldData {
  version: 1;
  counters: Record<string, number>;
  addressCursor: number;
  hetzner: { servers: HetznerServer[]; sshKeys: HetznerSshKey[]; actions: HetznerAction[] };
  digitalocean: { droplets: DoDroplet[]; sshKeys: DoSshKey[]; actions: DoAction[]; tags: string[] };
  fly: { apps: FlyApp[]; machines: FlyMachine[]; volumes: FlyVolume[]; secrets: FlySecret[] };
  pending: PendingTransition[];
  /** Stand-ins' own state, by provider id (see World.extra). */
  extra?: Record<string, Record<string, unknown>>;
}
