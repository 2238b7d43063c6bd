import type { ProvisionAccess } from "../access/provision-keys.js";
import { AuthError, errorJson, ProviderApiError, rememberFailure, UsageError } from "../lib/errors.js";
import { isUnreachable, mayHaveCommitted } from "../lib/http.js";
import { newId } from "../lib/ids.js";
import { withLease } from "../state/lease.js";
import type { Secret } from "../lib/redact.js";
import type { Placement } from "../providers/plan.js";
import { monthlyTotal } from "../providers/plan.js";
import type { BillingItem, Provider, ProviderInstance } from "../providers/types.js";
import type { Instance, Labels, LeaseRef, StateStore } from "../state/types.js";
import { createByMarker, type CreateProgress } from "./create-by-marker.js";

export type ProvisionStatus = "created" | "adopted" | "resumed" | "exists" | "failed";

/** The instance fields that `provision --json` and `import --json` both report for a user. */
export interface InstanceReport {
  status: string | null;
  instanceId: string | null;
  resources: Record<string, string>;
  addresses: Record<string, string>;
  monthlyPrice: number | null;
  currency: string | null;
  error: { code: string; message: string; hint?: string } | null;
}

/** One user's outcome, in the documented JSON shape of `provision --json`. */
export interface ProvisionOutcome extends InstanceReport {
  user: string;
  result: ProvisionStatus;
  provider: string;
  region: string;
  size: string;
}

export interface ProvisionJob {
  state: StateStore;
  provider: Provider;
  placement: Placement;
  env: Record<string, string>;
  secrets: Record<string, Secret>;
  health: { port: number; path: string };
  noWait: boolean;
  /** `--allow-sleep`, handed to the provider. */
  allowSleep?: boolean;
  who: string;
  now: () => Date;
  step: (user: string, text: string) => void;
  /** Pins the host keys of a created machine reached over SSH (createByMarker makes them and keeps them in state). */
  access?: ProvisionAccess | undefined;
  /**
   * Writes the secrets onto a created VM over SSH; set when there are secrets and the provider's
   * machines are reached over SSH (Fly keeps them as app secrets at create). Until it succeeds the
   * row stays `provisioning`, so an interrupted run is resumed and delivers them again.
   */
  deliverSecrets?: ((instance: Instance, step: (text: string) => void) => Promise<void>) | undefined;
  /** Notes kept on the instance row (why the placement policy put the user there). */
  meta?: Record<string, unknown> | undefined;
  /** `--label`: set on the user once it has an instance (made now, resumed or already there). */
  labels?: Labels | undefined;
}

/** Errors after which the provider certainly made nothing. */
function nothingMade(error: unknown): boolean {
  if (error instanceof AuthError || error instanceof UsageError || isUnreachable(error)) return true;
  return error instanceof ProviderApiError && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429;
}


/**
 * Provisions one user under their lease, through createByMarker: the instance row is written
 * (status provisioning, with the operation marker) before the provider is called, its resource
 * ids the moment they exist, and the final state after. A crash anywhere leaves a row that a
 * re-run resumes (the same marker, looked up before any second create) and doctor can explain.
 * Then: the host key pinned, secrets delivered, billing opened, the provision audited.
 */
export async function provisionOne(job: ProvisionJob, user: string): Promise<ProvisionOutcome> {
  const { state, placement } = job;
  const base = {
    user, provider: placement.provider.id, region: placement.region, size: placement.size, status: null, instanceId: null,
    resources: {}, addresses: {}, monthlyPrice: null, currency: null, error: null,
  };
  try {
    const outcome = await withLease(state, user, { who: job.who, operation: "provision" }, async (lease) => {
      const existing = await state.getInstance(user);
      if (existing && existing.status !== "provisioning" && existing.status !== "failed") {
        return { ...fromInstance(existing), result: "exists" as const };
      }
      if (existing && existing.provider !== placement.provider.id) {
        throw new UsageError(`${user} has an unfinished instance on ${existing.provider}`, { hint: `finish it there with --provider ${existing.provider}, or automna destroy ${user}` });
      }
      return await create(job, user, lease, existing);
    });
    // Labels belong to the user, not the instance: no lease needed. A failed user gets them when
    // the same command resumes it.
    if (job.labels && Object.keys(job.labels).length) await state.updateLabels(user, { set: job.labels });
    return outcome;
  } catch (error) {
    const outcome: ProvisionOutcome = { ...base, result: "failed", error: errorJson(error) };
    rememberFailure(outcome, error);
    return outcome;
  }
}

async function create(job: ProvisionJob, user: string, lease: LeaseRef, existing: Instance | undefined): Promise<ProvisionOutcome> {
  const { state, placement } = job;
  const opId = existing?.opId ?? newId("op", job.now());
  const deliver = job.deliverSecrets;
  const progress: CreateProgress = {};
  job.step(user, existing ? `resuming operation ${opId}` : "creating");
  try {
    const made = await createByMarker({
      state, provider: job.provider, lease, user, role: "live", region: placement.region, size: placement.size, image: placement.image,
      marker: opId, existing, resumed: existing !== undefined, ...(job.meta ? { meta: job.meta } : {}), keepProvisioning: deliver !== undefined, step: (text) => job.step(user, text),
      spec: { env: job.env, secrets: job.secrets, health: job.health, noWait: job.noWait, ...(job.allowSleep ? { allowSleep: true } : {}) },
    }, progress);
    let done = made.row;
    if (job.access) await job.access.pin(done).catch((error: unknown) => job.step(user, `could not pin the SSH host key: ${(error as Error).message}`));
    if (deliver) {
      await deliver(done, (text) => job.step(user, text));
      done = await state.updateInstance(done.id, { status: made.live.status }, { lease });
    }
    await openUsage(state, done, made.billing, job.now(), lease);
    await state.appendAudit({
      who: job.who, action: "provision", target: user,
      details: { provider: done.provider, region: done.region, size: done.size, opId, adopted: made.adopted, resources: done.resources },
    });
    const outcome: ProvisionStatus = existing ? "resumed" : made.adopted ? "adopted" : "created";
    return { ...fromInstance(done), result: outcome, monthlyPrice: monthlyTotal(made.billing), currency: made.billing[0]?.currency ?? null };
  } catch (error) {
    if (progress.row) await settleFailure(job, progress.row, opId, progress.recorded === true, existing !== undefined, error, lease);
    throw error;
  }
}

/**
 * After a failed provision: when the provider certainly made nothing, the intent row is removed
 * (state as it was); when something may exist, the row stays as failed with what is known, so
 * a re-run resumes it and destroy can clean it up.
 */
async function settleFailure(job: ProvisionJob, row: Instance, opId: string, recorded: boolean, resumed: boolean, error: unknown, lease: LeaseRef): Promise<void> {
  const { state, provider } = job;
  let found: ProviderInstance | undefined;
  if (!recorded && !nothingMade(error) && mayHaveCommitted(error)) found = await provider.findByMarker(opId).catch(() => undefined);
  if (!recorded && !found && !resumed && (nothingMade(error) || mayHaveCommitted(error))) {
    await state.deleteInstance(row.id, { lease }).catch(() => undefined);
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  await state.updateInstance(row.id, {
    status: "failed",
    ...(found ? { resources: found.resources, addresses: found.addresses } : {}),
    meta: { ...row.meta, error: message.slice(0, 500) },
  }, { lease }).catch(() => undefined);
  await state.appendAudit({ who: job.who, action: "provision.failed", target: row.user, details: { opId, error: message.slice(0, 500) } }).catch(() => undefined);
}

/** Opens a usage interval for each billed component not already open (re-runs open none twice). */
export async function openUsage(state: StateStore, instance: Instance, billing: BillingItem[], now: Date, lease: LeaseRef): Promise<void> {
  const open = await state.listUsage({ instanceId: instance.id, openOnly: true });
  for (const item of billing) {
    if (open.some((u) => u.kind === item.kind)) continue;
    await state.openUsage({
      user: instance.user, instanceId: instance.id, provider: instance.provider, size: instance.size, region: instance.region, kind: item.kind,
      quantity: item.quantity, hourlyPrice: item.hourlyPrice, monthlyPrice: item.monthlyPrice, currency: item.currency, start: now.toISOString(),
    }, { lease });
  }
}

function fromInstance(i: Instance): Omit<ProvisionOutcome, "result"> {
  return {
    user: i.user, provider: i.provider, region: i.region, size: i.size, status: i.status, instanceId: i.id, resources: i.resources,
    addresses: i.addresses, monthlyPrice: null, currency: null, error: null,
  };
}
