import { generateHostKeyPair } from "../access/host-key-gen.js";
import { hostKeysOf } from "../access/target.js";
import { recordedBinding, sameApi, wrongApi } from "../providers/binding.js";
import { monthlyTotal } from "../providers/plan.js";
import type { BillingItem, Provider, ProviderInstance, ProvisionSpec } from "../providers/types.js";
import type { Instance, InstanceStatus, LeaseRef, StateStore } from "../state/types.js";

/** One instance to make at a provider, by marker, under the user's lease. */
export interface CreateJob {
  state: StateStore;
  provider: Provider;
  lease: LeaseRef;
  user: string;
  /** `live` when provisioning a user, `target` when a migration makes the user's new home. */
  role: "live" | "target";
  region: string;
  size: string;
  image: string;
  /** The operation marker: on the provider's resources and on the row, so a retry finds what an attempt made. */
  marker: string;
  /** The row an earlier attempt wrote (same marker): resumed, not written again. */
  existing: Instance | undefined;
  /** An earlier attempt may have sent the create: look for its resources by marker before sending another. */
  resumed: boolean;
  /** Extra meta for a new row (a migration's id). */
  meta?: Record<string, unknown>;
  /** What the agent runs with; `hold` creates it held (a migration target). */
  spec: Pick<ProvisionSpec, "env" | "secrets" | "health" | "noWait" | "hold" | "allowSleep">;
  /** Leave the row `provisioning` once made (secrets still to deliver): a re-run resumes it. */
  keepProvisioning?: boolean;
  /** Right before the create is sent: a migration proves it still holds its lease (fencing). */
  beforeCreate?: () => Promise<void>;
  step: (text: string) => void;
}

export interface Created {
  /** The row as the create left it. */
  row: Instance;
  live: ProviderInstance;
  billing: BillingItem[];
  /** Found by marker (an earlier attempt made it) or adopted by the provider when the create's answer was lost. */
  adopted: boolean;
  foundByMarker: boolean;
}

/** How far a create got, for a caller deciding what a failure leaves behind. */
export interface CreateProgress {
  /** The intent row, once written (or the earlier attempt's). */
  row?: Instance;
  /** Whether the provider's resource ids reached the row. */
  recorded?: boolean;
}

/**
 * Creates (or adopts) one instance by marker, for provisioning and migrations alike (and import
 * and failover to come). The sequence every caller needs, in the order that survives a crash at
 * any point:
 *
 * 1. A machine reached over SSH gets a host key made here, and its public half goes into the row
 *    before the create, next to any an earlier attempt listed: whatever is made or adopted is
 *    reached with a pinned key.
 * 2. The row goes in before the provider is called (status provisioning, role, marker).
 * 3. A resumed create looks for the earlier attempt's resources by marker first and adopts them
 *    (reading the price, which a create would have answered); otherwise the create is sent, and
 *    its resource ids are written the moment the provider has them (the `created` hook).
 * 4. The row gets the final state: ids (added to those recorded), addresses, status, region and
 *    size as the provider reports them, the price, and the host keys (made here: exactly this
 *    key; adopted: the list).
 */
export async function createByMarker(job: CreateJob, progress: CreateProgress = {}): Promise<Created> {
  const { state, provider, lease } = job;
  const hostKey = provider.reach === "ssh" ? generateHostKeyPair() : undefined;
  const candidates = hostKey ? [...hostKeysOf(job.existing ?? { meta: {} }), hostKey.publicKey] : [];
  // The endpoint and account it is made through, recorded before it exists: nothing acts on it
  // through another (ProviderRegistry.forInstance), and an earlier attempt made elsewhere is not resumed here.
  const api = await provider.api();
  const earlier = job.existing && recordedBinding(job.existing);
  if (earlier && !sameApi(earlier, api)) throw wrongApi(job.existing!, provider.title, earlier, api);
  let row = job.existing ?? await state.createInstance({
    user: job.user, role: job.role, provider: provider.id, region: job.region, size: job.size, image: job.image, resources: {}, addresses: {},
    status: "provisioning", opId: job.marker, meta: { ...job.meta, api, ...(hostKey ? { hostKeys: candidates } : {}) },
  }, { lease });
  if (job.existing && (hostKey || !earlier)) row = await state.updateInstance(row.id, { meta: { ...row.meta, api, ...(hostKey ? { hostKeys: candidates } : {}) } }, { lease });
  progress.row = row;
  progress.recorded = Object.keys(row.resources).length > 0;

  const found = job.resumed || progress.recorded ? await provider.findByMarker(job.marker) : undefined;
  let live: ProviderInstance;
  let billing: BillingItem[];
  let adopted = found !== undefined;
  if (found) {
    live = found.status === "running" || job.spec.noWait ? found : await provider.wait(found, "running");
    billing = await provider.billing(job.size, job.region);
  } else {
    await job.beforeCreate?.();
    const result = await provider.provision({
      user: job.user, region: job.region, size: job.size, image: job.image, opId: job.marker, ...job.spec, ...(hostKey ? { hostKey } : {}),
    }, {
      step: job.step,
      created: async (partial) => {
        progress.recorded = true;
        await state.updateInstance(row.id, { resources: partial.resources, addresses: partial.addresses }, { lease });
      },
    });
    live = result.instance;
    billing = result.billing;
    adopted = result.adopted;
  }
  const status: InstanceStatus = job.keepProvisioning ? "provisioning" : live.status;
  row = await state.updateInstance(row.id, {
    // A lookup may show fewer ids than a create recorded (Fly's machine does not name its volume): keep them.
    resources: { ...row.resources, ...live.resources }, addresses: live.addresses, status, region: live.region || job.region, size: live.size || job.size,
    meta: {
      ...row.meta, providerStatus: live.providerStatus, monthlyPrice: monthlyTotal(billing), currency: billing[0]?.currency ?? null,
      ...(hostKey ? { hostKeys: adopted ? candidates : [hostKey.publicKey] } : {}),
    },
  }, { lease });
  progress.row = row;
  progress.recorded = true;
  return { row, live, billing, adopted, foundByMarker: found !== undefined };
}
