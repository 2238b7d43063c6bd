import type { Context } from "../../context.js";
import type { ProvisionJob } from "../../fleet/provision-one.js";
import { NotSupportedError, UsageError } from "../../lib/errors.js";
import type { Secret } from "../../lib/redact.js";
import { parseDuration } from "../../lib/validate.js";
import type { Provider } from "../../providers/types.js";

/**
 * Refuses `--secret` where it cannot be delivered, before anything is made: a provider that keeps
 * no secrets, or a VM (its secrets are written over SSH once it runs) in a run that does not wait
 * for that. `entry` names the placement entry under `--provider auto`.
 */
export function refuseUndeliverableSecrets(provider: Provider, opts: { secret: string[]; wait: boolean }, entry?: string): void {
  if (opts.secret.length === 0) return;
  if (provider.capabilities.secrets) {
    throw new NotSupportedError(`--secret is not supported on ${provider.title}${entry ? ` (placement entry ${entry})` : " yet"}`, { hint: entry ? `${provider.capabilities.secrets}; or keep to other entries with --region` : provider.capabilities.secrets });
  }
  if (provider.reach === "ssh" && !opts.wait) {
    throw new UsageError(`--secret needs the machine up (${entry ? `placement entry ${entry}: ` : ""}on ${provider.title} secrets are written over SSH after boot), so it cannot be used with --no-wait`);
  }
}

/**
 * How a VM's secrets reach it: over SSH once it runs (never in user-data), within `ssh.bootTimeout`,
 * the env file written and the container re-created. Refuses values with line breaks before
 * anything is made.
 */
export async function sshSecretDelivery(ctx: Context, o: { image: string; port: number; env: Record<string, string>; secrets: Record<string, Secret> }): Promise<NonNullable<ProvisionJob["deliverSecrets"]>> {
  const { refuseLineBreaks } = await import("../../providers/vm/agent-container.js");
  refuseLineBreaks("--secret", Object.fromEntries(Object.entries(o.secrets).map(([k, v]) => [k, v.reveal()])));
  const timeoutMs = parseDuration("ssh.bootTimeout", (await ctx.config()).getString("ssh.bootTimeout") ?? "5m");
  const deliver = (await import("../../access/deliver-secrets.js")).deliverSecrets;
  return (instance, step) => deliver(ctx, instance, { ...o, timeoutMs, step });
}
