import type { Context } from "../../context.js";
import type { ProvisionJob } from "../../fleet/provision-one.js";
import type { Secret } from "../../lib/redact.js";

/**
 * How a VM's secrets reach it: over SSH once it runs (never in user-data), the env file written
 * and the container re-created. Refuses values with line breaks before anything is made.
 */
export async function sshSecretDelivery(ctx: Context, o: { image: string; port: number; env: Record<string, string>; secrets: Record<string, Secret>; timeoutMs: number }): Promise<NonNullable<ProvisionJob["deliverSecrets"]>> {
  const { refuseLineBreaks } = await import("../../providers/vm/agent-container.js");
  refuseLineBreaks("--secret", Object.fromEntries(Object.entries(o.secrets).map(([k, v]) => [k, v.reveal()])));
  const deliver = (await import("../../access/deliver-secrets.js")).deliverSecrets;
  return (instance, step) => deliver(ctx, instance, { ...o, step });
}
