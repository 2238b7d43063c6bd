import type { SandboxEnv } from "../env.js";
import type { Reply } from "../http.js";

/** The bridge's error body: `{error, code}` (spec ErrorResponse). */
export function cfError(status: number, code: string, error: string): Reply {
  return { status, body: { error, code } };
}

export const invalidRequest = (error: string): Reply => cfError(400, "invalid_request", error);

/** A sandbox ID as the bridge accepts it (`[a-z2-7]{1,128}`). */
export const SANDBOX_ID = /^[a-z2-7]{1,128}$/;
/** `Session-Id` as the bridge accepts it. */
export const SESSION_ID = /^[a-zA-Z0-9._-]{1,128}$/;

/** A bucket prefix mounted at a path in the container (what `POST /mount` set up, or the Worker mounts at start). */
export interface CfMount {
  bucket: string;
  /** Key prefix inside the bucket, without leading slash, ending in `/` (empty: the whole bucket). */
  prefix: string;
  /** Absolute container path (`/workspace/data`). */
  mountPath: string;
  readOnly: boolean;
}

/** One sandbox ID the bridge has seen. Its container exists only while `container` is set. */
export interface CfSandbox {
  id: string;
  /** The running container (a simulated host), or null while the sandbox sleeps. */
  container: { uuid: string; address: string; started: number } | null;
  /** Last request that reached it (the sleep timer counts from here). */
  lastRequest: number;
  /** Mounts of the current container; gone when it stops. */
  mounts: CfMount[];
  /**
   * A mount the operator's Worker makes on every container start (how the seeded fleet keeps its
   * data in R2), so a woken sandbox sees its prefix again without a `POST /mount`.
   */
  bootMount: CfMount | null;
  /** Whether the image starts the agent with every container (the Worker image's CMD, as the seeded fleet's does). */
  agentOnBoot: boolean;
  sessions: string[];
  /** How many times a container started for it (a fresh disk each time). */
  starts: number;
}

export interface CfWorld {
  sandboxes: Record<string, CfSandbox>;
  /** Idle time before a container sleeps; the template's 10 minutes, scaled with the action delay. */
  sleepAfterMs: number;
  /** `max_instances` of the Worker's container config (the template sets 3). */
  maxInstances: number;
}

/** 10 minutes at the default action delay of 300 ms: sleeps scale with the sandbox's clock. */
const SLEEP_PER_DELAY_MS = 2000;

export function cfWorld(env: SandboxEnv): CfWorld {
  const extra = env.world.extra;
  extra["cloudflare-sandbox"] ??= { sandboxes: {}, sleepAfterMs: Math.max(1000, SLEEP_PER_DELAY_MS * env.delayMs), maxInstances: 3 };
  return extra["cloudflare-sandbox"] as unknown as CfWorld;
}

/** A fresh sandbox record (no container yet). */
export function newSandbox(id: string): CfSandbox {
  return { id, container: null, lastRequest: Date.now(), mounts: [], bootMount: null, agentOnBoot: true, sessions: [], starts: 0 };
}
