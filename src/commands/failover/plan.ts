import type { Context } from "../../context.js";
import { checkHealth, healthHost } from "../../lib/health.js";
import { mapConcurrent } from "../../lib/concurrency.js";
import { UsageError } from "../../lib/errors.js";
import { validateUsers } from "../../lib/validate.js";
import type { StorageClient } from "../../lib/s3-objects.js";
import type { FailoverParams } from "../../migrate/failover.js";
import type { HealthSettings } from "../../migrate/types.js";
import type { Instance } from "../../state/types.js";

export interface FailoverRequest {
  users: string[];
  /** Every live user on this provider (and region). */
  provider?: string | undefined;
  region?: string | undefined;
  to: string;
  toRegion?: string | undefined;
  toSize?: string | undefined;
  force: boolean;
}

/** One user's failover as planned: a fresh one with the backup it restores, or an unfinished one to resume. */
export interface PlannedFailover {
  user: string;
  /** A fresh failover's params; null: resume the unfinished operation `resume`. */
  params: FailoverParams | null;
  resume: string | null;
  from: string;
  backupId: string;
  backupTime: string;
  /** How old the backup is now: what the user loses (data written since). */
  dataAtRiskMs: number;
  /** The old agent answered its health check (only with --force). */
  healthy: boolean;
  /** The backup holds the agent's environment (false: an older backup; the agent comes back without it). */
  env: boolean;
}

/**
 * Resolves who fails over, from what backup: each user's unfinished failover is resumed as it was
 * planned; otherwise the user's live instance (on --provider/--region when given) must not answer
 * its health check (unless --force) and must have a verified backup.
 */
export async function planFailover(ctx: Context, req: FailoverRequest, objects: StorageClient, health: HealthSettings): Promise<PlannedFailover[]> {
  if (req.users.length && req.provider) throw new UsageError("give users or --provider, not both");
  if (!req.users.length && !req.provider) throw new UsageError("name the users to fail over, or pass --provider", { hint: "automna failover --provider hetzner --to fly" });
  if (req.region && !req.provider) throw new UsageError("--region needs --provider (the region that is down)");
  const [registry, state, config] = await Promise.all([ctx.providers(), ctx.state(), ctx.config()]);
  const to = registry.resolve(req.to);
  const from = req.provider ? registry.resolve(req.provider).id : undefined;
  if (from === to.id) throw new UsageError(`--provider and --to are both ${to.id}`, { hint: "a failover moves users to another provider" });
  const [{ unfinishedFailover }, { newestVerified }] = await Promise.all([import("../../migrate/failover.js"), import("../../migrate/backup-catalog.js")]);
  const rows = from ? await state.listInstances({ provider: from, role: "live", ...(req.region ? { region: req.region } : {}) }) : await state.listInstances({ users: validateUsers(req.users), role: "live" });
  const live = new Map(rows.map((r) => [r.user, r]));
  const users = from ? [...live.keys()].sort() : req.users;
  // Users whose failover was left unfinished (a killed run) are picked up whatever their live row says now.
  if (from) {
    for (const op of await state.listOperations({ kind: "failover", status: "running" })) if (op.params.from === from && !users.includes(op.user)) users.push(op.user);
  }
  if (users.length === 0) throw new UsageError(`no live users on ${from}${req.region ? ` in ${req.region}` : ""}`, { hint: "automna list shows where each user runs" });
  const problems: string[] = [];
  const planned = await mapConcurrent(users, 16, async (user): Promise<PlannedFailover | undefined> => {
    const op = await unfinishedFailover(state, user);
    if (op) {
      const p = op.params as unknown as FailoverParams;
      return { user, params: null, resume: op.id, from: p.from, backupId: p.backupId, backupTime: p.backupTime, dataAtRiskMs: age(ctx, p.backupTime), healthy: false, env: true };
    }
    const row = live.get(user);
    if (!row) return void problems.push(`${user} has no live instance`);
    if (row.provider === to.id) return void problems.push(`${user} already runs on ${to.id}`);
    const healthy = await answers(row, health);
    if (healthy && !req.force) return void problems.push(`${user}'s agent on ${row.provider} answers its health check`);
    const backup = await newestVerified(objects, user);
    if (!backup) return void problems.push(`${user} has no verified backup to restore`);
    const params: FailoverParams = {
      from: row.provider, to: to.id, region: req.toRegion ?? to.defaultRegion, size: req.toSize ?? to.defaultSize, image: row.image || (config.getString("image") ?? ""),
      keepSourceMs: 0, sourceInstanceId: row.id, backupId: backup.id, backupTime: backup.time, forced: healthy,
    };
    return { user, params, resume: null, from: row.provider, backupId: backup.id, backupTime: backup.time, dataAtRiskMs: age(ctx, backup.time), healthy, env: backup.env !== null };
  });
  if (problems.length) {
    const healthyOnes = problems.some((p) => p.includes("answers its health check"));
    throw new UsageError(`failover refused: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? ` and ${problems.length - 5} more` : ""}`, {
      hint: healthyOnes ? "a provider that serves is not failed over: use automna migrate, or --force to stop the old agent and fail over anyway" : "automna backup list shows the backups; automna list where each user runs",
    });
  }
  return planned.filter((p): p is PlannedFailover => p !== undefined);
}

function age(ctx: Context, time: string): number {
  return Math.max(0, ctx.clock.now().getTime() - Date.parse(time));
}

/** Whether the instance's agent answers its health check now (a quick probe, no retries). */
async function answers(row: Instance, health: HealthSettings): Promise<boolean> {
  const host = healthHost(row.addresses);
  if (!host) return false;
  return (await checkHealth(host, health.port, health.path, 3000)).ok;
}
