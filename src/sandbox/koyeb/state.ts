import type { SandboxEnv } from "../env.js";
import type { Reply } from "../http.js";
import { isoSeconds } from "../util.js";

/** Koyeb's error body: `{status, code, message, fields?[{field, description}]}` (spec intro). */
export function kError(status: number, code: string, message: string, fields?: { field: string; description: string }[]): Reply {
  return { status, body: { status, code, message, ...(fields ? { fields } : {}) } };
}

/** 400 `invalid_argument` naming the request field that is wrong. */
export function invalid(field: string, description: string): Reply {
  return kError(400, "invalid_argument", "Validation error", [{ field, description }]);
}

export const notFound = (what: string): Reply => kError(404, "unknown_resource", `${what} not found`);

export interface KApp { id: string; name: string; created: number; status: string }
export interface KSecret { id: string; name: string; type: string; value: string; created: number }
export interface KVolume { id: string; name: string; region: string; maxSize: number; created: number; serviceId: string; status: string }
export interface KService {
  id: string; appId: string; name: string; type: string; status: string; created: number;
  latestDeploymentId: string; activeDeploymentId: string;
  /** Loopback address of the service's simulated host (its volume and agent live there). */
  address: string;
  /** Volumes once attached here (Koyeb: "cannot be attached again"). */
  volumeIds: string[];
}
export interface KDeployment {
  id: string; serviceId: string; appId: string; parentId: string; status: string; created: number;
  definition: Record<string, unknown>;
}
export interface KInstance { id: string; serviceId: string; deploymentId: string; region: string; type: string; status: string; created: number }

export interface KoyebWorld {
  orgId: string;
  apps: Record<string, KApp>;
  secrets: Record<string, KSecret>;
  volumes: Record<string, KVolume>;
  services: Record<string, KService>;
  deployments: Record<string, KDeployment>;
  instances: Record<string, KInstance>;
}

/** The Koyeb part of the sandbox world (world.extra.koyeb), made on first use. */
export function koyebWorld(env: SandboxEnv): KoyebWorld {
  const extra = env.world.extra;
  extra.koyeb ??= { orgId: crypto.randomUUID(), apps: {}, secrets: {}, volumes: {}, services: {}, deployments: {}, instances: {} };
  return extra.koyeb as unknown as KoyebWorld;
}

export const time = (ms: number): string => isoSeconds(ms);

/**
 * Regions as `GET /v1/catalog/regions` lists them; which have volumes follows the README's
 * capture of 2026-02-12 (fra, par, was: yes; sfo, sin, tyo: no).
 */
export const REGIONS: readonly { id: string; name: string; volumes: boolean }[] = [
  { id: "fra", name: "Frankfurt", volumes: true },
  { id: "par", name: "Paris", volumes: true },
  { id: "was", name: "Washington, D.C.", volumes: true },
  { id: "sfo", name: "San Francisco", volumes: false },
  { id: "sin", name: "Singapore", volumes: false },
  { id: "tyo", name: "Tokyo", volumes: false },
];

export interface KInstanceType { id: string; vcpu: number; memoryMb: number; diskGb: number; monthly: number; volumes: boolean; regions: string[]; eco: boolean }

const ALL = REGIONS.map((r) => r.id);
/** Eco types are offered in Washington, Frankfurt and Singapore and never take volumes (README). */
const ECO = ["was", "fra", "sin"];

/** The instance catalog (koyeb.com/docs/reference/instances, stored copy read 2026-12-05). */
export const INSTANCE_TYPES: readonly KInstanceType[] = [
  { id: "free", vcpu: 0.1, memoryMb: 512, diskGb: 2, monthly: 0, volumes: false, regions: ["fra", "was"], eco: true },
  { id: "eco-nano", vcpu: 0.1, memoryMb: 256, diskGb: 2, monthly: 1.61, volumes: false, regions: ECO, eco: true },
  { id: "eco-micro", vcpu: 0.25, memoryMb: 512, diskGb: 4, monthly: 2.68, volumes: false, regions: ECO, eco: true },
  { id: "eco-small", vcpu: 0.5, memoryMb: 1024, diskGb: 8, monthly: 5.36, volumes: false, regions: ECO, eco: true },
  { id: "nano", vcpu: 0.25, memoryMb: 256, diskGb: 2.5, monthly: 2.68, volumes: true, regions: ALL, eco: false },
  { id: "micro", vcpu: 0.5, memoryMb: 512, diskGb: 5, monthly: 5.36, volumes: true, regions: ALL, eco: false },
  { id: "small", vcpu: 1, memoryMb: 1024, diskGb: 10, monthly: 10.71, volumes: true, regions: ALL, eco: false },
  { id: "medium", vcpu: 2, memoryMb: 2048, diskGb: 20, monthly: 21.43, volumes: true, regions: ALL, eco: false },
  { id: "large", vcpu: 4, memoryMb: 4096, diskGb: 40, monthly: 42.85, volumes: true, regions: ALL, eco: false },
];

/** Koyeb's list envelope: `limit` (at most 100) and `offset` as strings in, numbers out, with `count`. */
export function page<T>(items: T[], query: URLSearchParams, key: string, render: (t: T) => unknown): Reply {
  const limit = Number(query.get("limit") ?? 10);
  const offset = Number(query.get("offset") ?? 0);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return invalid("limit", "must be between 1 and 100");
  if (!Number.isInteger(offset) || offset < 0) return invalid("offset", "must be a non-negative integer");
  const slice = items.slice(offset, offset + limit);
  return { status: 200, body: { [key]: slice.map(render), limit, offset, count: items.length, has_next: offset + limit < items.length } };
}
