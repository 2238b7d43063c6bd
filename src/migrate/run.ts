import { AutomnaError } from "../lib/errors.js";
import type { Provider } from "../providers/types.js";
import type { Instance, LeaseRef } from "../state/types.js";
import type { HostDeps } from "./host.js";
import type { Journal } from "./journal.js";
import type { Report } from "./report.js";
import type { EngineDeps, MigrateParams, VerifyMode } from "./types.js";

/** Where a migration's archives go in the store (`<prefix><name>.tar`). */
export function archivePrefix(user: string, opId: string): string {
  return `migrations/${user}/${opId}/`;
}

/** Object keys of a migration's archives. */
export function archiveKey(user: string, opId: string, name: "warm" | "final"): string {
  return `${archivePrefix(user, opId)}${name}.tar`;
}

/** The frozen source as the freeze listed it: its canonical listing's digest, the delta's file checksums and removals. */
export interface Frozen {
  /** The digest of the canonical listing (listingDigest); the listing itself stays on the source. */
  listing: string;
  /** path -> sha256 of every regular file the final archive carries. */
  hashes: Map<string, string>;
  /** The paths the source no longer has (or has as another type) since the warm listing. */
  removed: string[];
}

/** One migration being driven forward or back by this process. */
export class Run {
  readonly deps: EngineDeps;
  readonly j: Journal;
  readonly params: MigrateParams;
  readonly lease: LeaseRef;
  readonly from: Provider;
  readonly to: Provider;
  /** What this process learned from the hosts (asked again after a resume: see copy.ts). */
  readonly memo: { frozen?: Frozen; target?: Report; source?: Report } = {};
  /** The rows last read, so a run that lost its state store can still restart the source (interrupt.ts). */
  readonly seen: { source?: Instance; target?: Instance } = {};

  constructor(deps: EngineDeps, j: Journal, params: MigrateParams, lease: LeaseRef, from: Provider, to: Provider) {
    this.deps = deps;
    this.j = j;
    this.params = params;
    this.lease = lease;
    this.from = from;
    this.to = to;
  }

  get verifyMode(): VerifyMode {
    return this.params.verify ?? "quick";
  }

  get user(): string {
    return this.j.op.user;
  }

  get opId(): string {
    return this.j.op.id;
  }

  /** The data path's dependencies, fenced: every remote command first proves the lease is still held. */
  get host(): HostDeps {
    return { ...this.deps, guard: () => this.j.fence() };
  }

  key(name: "warm" | "final"): string {
    return archiveKey(this.user, this.opId, name);
  }

  /** The source row, undefined when it is gone from state (destroyed behind the migration's back). */
  async sourceRow(): Promise<Instance | undefined> {
    return this.deps.state.getInstanceById(this.params.sourceInstanceId);
  }

  async source(): Promise<Instance> {
    const row = await this.sourceRow();
    if (!row) throw new AutomnaError(`the source instance ${this.params.sourceInstanceId} of ${this.user} is gone from state`, { code: "not_found" });
    this.seen.source = row;
    return row;
  }

  /** The target row this operation made (by its marker), if any. */
  async targetRow(): Promise<Instance | undefined> {
    const rows = await this.deps.state.listInstances({ user: this.user });
    return rows.find((r) => r.opId === this.opId && r.id !== this.params.sourceInstanceId);
  }

  async target(): Promise<Instance> {
    const row = await this.targetRow();
    if (!row) throw new AutomnaError(`the target instance of ${this.opId} is missing from state`, { code: "not_found" });
    this.seen.target = row;
    return row;
  }
}
