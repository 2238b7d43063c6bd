import type { ScannedHostKey } from "../access/host-key-scan.js";
import { hostKeyFingerprint } from "../access/host-key-scan.js";
import { hostKeysOf, sshAddress } from "../access/target.js";
import { AutomnaError, ConflictError, errorJson, NotFoundError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { monthlyTotal } from "../providers/plan.js";
import type { BillingItem, ImportCandidate } from "../providers/types.js";
import { withLease } from "../state/lease.js";
import type { Instance, LeaseRef, StateStore } from "../state/types.js";
import type { ImportEntry } from "./import-entries.js";
import { openUsage, type InstanceReport } from "./provision-one.js";

export type ImportResult = "imported" | "already-imported" | "would-import" | "refused" | "failed";

/** One user's outcome, in the documented JSON shape of `import --json`. */
export interface ImportOutcome extends InstanceReport {
  user: string;
  provider: string;
  /** The provider's id from the mapping (or the match). */
  id: string;
  /** The mapping row, null for `--match`. */
  line: number | null;
  result: ImportResult;
  name: string | null;
  region: string | null;
  size: string | null;
  /** Its SSH host key: null for providers reached through their API, else whether it is accepted and its fingerprints. */
  hostKey: { accepted: boolean; fingerprints: string[] } | null;
}

export interface ImportJob {
  state: StateStore;
  who: string;
  now: () => Date;
  dryRun: boolean;
  /** How the users were named: a mapping file (its path as given, "-" for stdin) or a `--match` pattern. */
  via: { file: string } | { match: string };
  step: (user: string, text: string) => void;
  /**
   * `--accept-host-key`: reads the host keys a VM presents now (trust on first use, allowed here
   * only). Undefined: no key is accepted, and ssh, exec and migrate refuse the machine.
   */
  scanHostKeys?: ((address: string) => Promise<ScannedHostKey[]>) | undefined;
  /** Pins an instance's host keys (`meta.hostKeys`) in automna's known_hosts. */
  pin: (instance: Instance) => Promise<void>;
  /**
   * Which user holds each resource in state when the run began (`provider:key=value` -> user).
   * Entries of one run name distinct resources (the mapping is checked for that), so one read
   * serves the whole run instead of one per user.
   */
  owners: Map<string, string>;
}

/** `provider:key=value` for each of an instance's resource ids, as `owners` keys them. */
export function resourceKeys(provider: string, resources: Record<string, string>): string[] {
  return Object.entries(resources).map(([k, v]) => `${provider}:${k}=${v}`);
}

/** Whether a state row holds the resource a mapping names (every part of `app/machine` among its ids). */
function holds(row: Instance, entry: ImportEntry): boolean {
  const ids = Object.values(row.resources);
  return row.provider === entry.provider.id && entry.id.split("/").every((part) => ids.includes(part));
}

type Seen = { kind: "already"; row: Instance } | { kind: "new"; found: ImportCandidate };

/**
 * What state and the provider say about an entry, refusing conflicts: the user already has
 * another instance; the resource is missing, someone else's in state, or marked as another
 * user's. Reads only.
 */
async function examine(job: ImportJob, entry: ImportEntry): Promise<Seen> {
  const { user, provider: p } = entry;
  const what = `${p.title} ${p.importer.idLabel} ${entry.id}`;
  const mine = await job.state.listInstances({ user });
  const same = mine.find((r) => holds(r, entry));
  if (same) return { kind: "already", row: same };
  if (mine.length) {
    const r = mine[0]!;
    throw new ConflictError(`${user} already has an instance on ${r.provider} (${Object.entries(r.resources).map(([k, v]) => `${k} ${v}`).join(", ") || r.status}), not ${what}`, {
      hint: `automna status ${user} shows it; a user has one live instance`,
    });
  }
  const found = await p.importer.lookup(entry.id, { user, data: entry.data });
  if (!found) throw new NotFoundError(`${what} does not exist`, { hint: "check the id in the mapping, and that the token is for the account that has it" });
  const owner = resourceKeys(p.id, found.instance.resources).map((k) => job.owners.get(k)).find((u) => u !== undefined && u !== user);
  if (owner) throw new ConflictError(`${what} is already ${owner}'s instance in automna's state`, { hint: "one resource belongs to one user: check the mapping" });
  if (found.markedUser && found.markedUser !== user) {
    throw new ConflictError(`${what} carries automna's markers for user ${found.markedUser}`, { hint: `it is ${found.markedUser}'s: check the mapping, or import it as ${found.markedUser}` });
  }
  return { kind: "new", found };
}

/** The keys a VM presents, when the job accepts them; none for providers reached through their API. */
async function readHostKeys(job: ImportJob, entry: ImportEntry, addresses: Record<string, string>): Promise<ScannedHostKey[]> {
  if (!job.scanHostKeys || entry.provider.reach === "api") return [];
  const address = sshAddress(addresses);
  if (!address) throw new AutomnaError(`${entry.user}'s ${entry.provider.title} machine has no address to read its SSH host key from`, { code: "no_address", hint: "start it, then import again with --accept-host-key" });
  job.step(entry.user, `reading the SSH host key at ${address}`);
  return job.scanHostKeys(address);
}

/**
 * Takes one user's resource over (or, with `dryRun`, says what would happen), under the user's
 * lease: conflicts refused, the resource marked at the provider (so a crash before the row is
 * written leaves it findable as this user's, and a re-run reuses its marker), the live row
 * written as provision writes one (plus `meta.imported`), host keys pinned when accepted, its
 * usage opened from now at the catalog price, audited. An entry already imported changes nothing
 * (except accepting a host key not accepted before, or opening usage an interrupted run did not).
 */
export async function importUser(job: ImportJob, entry: ImportEntry): Promise<ImportOutcome> {
  const p = entry.provider;
  const base: ImportOutcome = {
    user: entry.user, provider: p.id, id: entry.id, line: entry.line, result: "failed", name: entry.name ?? null, region: null, size: null, status: null,
    instanceId: null, resources: {}, addresses: {}, monthlyPrice: null, currency: null, hostKey: null, error: null,
  };
  try {
    if (job.dryRun) {
      const seen = await examine(job, entry);
      if (seen.kind === "already") return fromRow(base, seen.row, "already-imported", p.reach === "ssh");
      const [billing, keys] = await Promise.all([p.billing(seen.found.instance.size, seen.found.instance.region), readHostKeys(job, entry, seen.found.instance.addresses)]);
      return fromCandidate(base, seen.found, billing, keys, "would-import", p.reach === "ssh");
    }
    return await withLease(job.state, entry.user, { who: job.who, operation: "import" }, async (lease) => {
      const seen = await examine(job, entry);
      if (seen.kind === "already") return await settleExisting(job, entry, seen.row, base, lease);
      return await take(job, entry, seen.found, base, lease);
    });
  } catch (error) {
    return { ...base, result: error instanceof ConflictError ? "refused" : "failed", error: errorJson(error) };
  }
}

async function take(job: ImportJob, entry: ImportEntry, found: ImportCandidate, base: ImportOutcome, lease: LeaseRef): Promise<ImportOutcome> {
  const { state } = job;
  const p = entry.provider;
  const live = found.instance;
  const keys = await readHostKeys(job, entry, live.addresses);
  const opId = found.markedUser === entry.user && live.opId ? live.opId : newId("op", job.now());
  job.step(entry.user, `marking ${p.importer.idLabel} ${entry.id} as ${entry.user}'s`);
  await p.importer.mark(live, entry.user, opId);
  // The endpoint and account it was found through, as provision records them: nothing acts on it through another.
  const [billing, api] = await Promise.all([p.billing(live.size, live.region), p.api()]);
  const now = job.now();
  const imported = { at: now.toISOString(), ...job.via, id: entry.id, name: found.name, ...(entry.data ? { dataLocation: entry.data } : {}) };
  const row = await state.createInstance({
    user: entry.user, role: "live", provider: p.id, region: live.region, size: live.size, image: found.agentImage ?? "", resources: live.resources,
    addresses: live.addresses, status: live.status, opId,
    meta: {
      api, providerStatus: live.providerStatus, monthlyPrice: monthlyTotal(billing), currency: billing[0]?.currency ?? null, imported,
      ...(keys.length ? { hostKeys: keys.map((k) => k.key) } : {}),
    },
  }, { lease });
  if (keys.length) await job.pin(row);
  await openUsage(state, row, billing, now, lease);
  await state.appendAudit({
    who: job.who, action: "import", target: entry.user,
    details: { provider: p.id, id: entry.id, name: found.name, opId, ...job.via, resources: row.resources, hostKeys: keys.map((k) => k.fingerprint) },
  });
  return fromCandidate({ ...base, instanceId: row.id, status: row.status }, found, billing, keys, "imported", p.reach === "ssh");
}

/**
 * A re-run for a user whose resource is already in state: nothing changes, except what an
 * earlier run left undone: a host key not accepted then (imported machines only: keys of machines
 * automna made are never learned on first use), usage an interrupted run did not open.
 */
async function settleExisting(job: ImportJob, entry: ImportEntry, row: Instance, base: ImportOutcome, lease: LeaseRef): Promise<ImportOutcome> {
  const { state } = job;
  let current = row;
  // A migration's target or retired source holding the resource: already automna's, left as it is.
  if (row.role !== "live") return fromRow(base, row, "already-imported", entry.provider.reach === "ssh");
  if (row.meta.imported && hostKeysOf(row).length === 0 && job.scanHostKeys && entry.provider.reach === "ssh") {
    const keys = await readHostKeys(job, entry, row.addresses);
    current = await state.updateInstance(row.id, { meta: { ...row.meta, hostKeys: keys.map((k) => k.key) } }, { lease });
    await job.pin(current);
    await state.appendAudit({ who: job.who, action: "import.host-key", target: entry.user, details: { provider: row.provider, id: entry.id, hostKeys: keys.map((k) => k.fingerprint) } });
  }
  if ((await state.listUsage({ instanceId: row.id, openOnly: true })).length === 0) {
    await openUsage(state, current, await entry.provider.billing(row.size, row.region), job.now(), lease);
  }
  return fromRow(base, current, "already-imported", entry.provider.reach === "ssh");
}

function hostKeyOf(keys: string[], overSsh: boolean): ImportOutcome["hostKey"] {
  return overSsh ? { accepted: keys.length > 0, fingerprints: keys.map(hostKeyFingerprint) } : null;
}

function fromRow(base: ImportOutcome, row: Instance, result: ImportResult, overSsh: boolean): ImportOutcome {
  const imported = row.meta.imported as { name?: string } | undefined;
  const price = typeof row.meta.monthlyPrice === "number" ? row.meta.monthlyPrice : null;
  return {
    ...base, result, name: imported?.name ?? base.name, region: row.region, size: row.size, status: row.status, instanceId: row.id, resources: row.resources,
    addresses: row.addresses, monthlyPrice: price, currency: typeof row.meta.currency === "string" ? row.meta.currency : null,
    hostKey: hostKeyOf(hostKeysOf(row), overSsh),
  };
}

function fromCandidate(base: ImportOutcome, found: ImportCandidate, billing: BillingItem[], keys: ScannedHostKey[], result: ImportResult, overSsh: boolean): ImportOutcome {
  const live = found.instance;
  return {
    ...base, result, name: found.name, region: live.region, size: live.size, status: base.status ?? live.status, resources: live.resources, addresses: live.addresses,
    monthlyPrice: monthlyTotal(billing), currency: billing[0]?.currency ?? null, hostKey: hostKeyOf(keys.map((k) => k.key), overSsh),
  };
}
