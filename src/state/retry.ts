import { ConflictError, NotFoundError } from "../lib/errors.js";
import type { Instance, InstancePatch, StateStore, WriteOptions } from "./types.js";

/**
 * Read-modify-write of an instance under optimistic concurrency: read it, compute the patch
 * from what is there now, write it only if nobody changed it meanwhile, and on a stale version
 * read again and recompute. Safe because `change` decides from the fresh copy every time; it
 * returns undefined when there is nothing (left) to do.
 */
export async function updateInstanceRetrying(
  store: StateStore,
  id: string,
  change: (current: Instance) => InstancePatch | undefined,
  options: WriteOptions & { attempts?: number } = {},
): Promise<Instance> {
  const attempts = options.attempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    const current = await store.getInstanceById(id);
    if (!current) throw new NotFoundError(`instance ${id} not found`);
    const patch = change(current);
    if (!patch) return current;
    try {
      return await store.updateInstance(id, patch, { ...(options.lease ? { lease: options.lease } : {}), expectedVersion: current.version });
    } catch (error) {
      // Only a stale version is retried: a uniqueness clash or a lock would clash again.
      if (!(error instanceof ConflictError && error.code === "version_conflict") || attempt >= attempts) throw error;
    }
  }
}
