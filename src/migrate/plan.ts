import type { Context } from "../context.js";
import { ConflictError, NotFoundError, UsageError } from "../lib/errors.js";
import type { ProviderInfo } from "../providers/catalog.js";
import { monthlyTotal } from "../providers/plan.js";
import type { Instance, UsageInterval } from "../state/types.js";
import type { MigrateParams, VerifyMode } from "./types.js";

export interface MigrateRequest {
  /** Explicit users, or every live user on `from` (`--all`). */
  users: string[] | "all";
  from: string;
  to: string;
  region?: string | undefined;
  size?: string | undefined;
  image?: string | undefined;
  keepSourceMs: number;
  /** How the target is verified (default quick). */
  verify?: VerifyMode | undefined;
}

/** One user's migration as planned (and what a dry run shows). */
export interface PlannedMigration {
  user: string;
  source: Instance;
  params: MigrateParams;
  /** Monthly price now (the source's open usage) and after (the target's billing). */
  before: { monthly: number | null; currency: string | null };
  after: { monthly: number; currency: string };
}

export interface MigrationPlan {
  from: ProviderInfo;
  to: ProviderInfo;
  users: PlannedMigration[];
}

function monthlyOf(usage: UsageInterval[]): { monthly: number | null; currency: string | null } {
  if (usage.length === 0) return { monthly: null, currency: null };
  return { monthly: monthlyTotal(usage), currency: usage[0]!.currency };
}

/**
 * Resolves who moves where, with prices: every user must have a live instance on `from`; the
 * target placement is validated against the provider's catalog (live sizes when it publishes
 * them). A retired source still on the target provider blocks that user (its names would clash).
 */
export async function planMigration(ctx: Context, req: MigrateRequest): Promise<MigrationPlan> {
  const [config, registry, state] = await Promise.all([ctx.config(), ctx.providers(), ctx.state()]);
  const from = registry.resolve(req.from);
  const to = registry.resolve(req.to);
  if (from.id === to.id) throw new UsageError(`--from and --to are both ${from.id}`, { hint: "a migration moves users to another provider" });
  const target = await registry.get(to.id);
  const { offerings, validatePlacement, catalogBilling, monthlyTotal } = await import("../providers/plan.js");
  const hasToken = config.secret(to.tokenKey) !== undefined;
  const rows = req.users === "all"
    ? await state.listInstances({ provider: from.id, role: "live" })
    : await state.listInstances({ users: req.users });
  const live = new Map(rows.filter((r) => r.role === "live").map((r) => [r.user, r]));
  const users = req.users === "all" ? [...live.keys()].sort() : req.users;
  if (users.length === 0) throw new NotFoundError(`no live users on ${from.id}`);
  const problems: string[] = [];
  for (const user of users) {
    const row = live.get(user);
    if (!row) problems.push(`${user} has no live instance`);
    else if (row.provider !== from.id) problems.push(`${user} runs on ${row.provider}, not ${from.id}`);
  }
  // A machine imported without accepting its host key is refused before any target is made.
  if (problems.length === 0 && (await registry.get(from.id)).reach === "ssh") {
    const { unacceptedHostKey } = await import("../access/target.js");
    const unpinned = users.map((u) => live.get(u)!).find((row) => unacceptedHostKey(row));
    if (unpinned) throw unacceptedHostKey(unpinned)!;
  }
  if (problems.length) throw new UsageError(problems.slice(0, 5).join("; ") + (problems.length > 5 ? ` and ${problems.length - 5} more` : ""), { hint: "automna list shows where each user runs" });
  const blocked = (await state.listInstances({ users, provider: to.id })).filter((r) => r.role === "retired");
  if (blocked.length) {
    throw new ConflictError(`${blocked.map((b) => b.user).join(", ")} still ${blocked.length === 1 ? "has a retired instance" : "have retired instances"} on ${to.id}`, { hint: "destroy them first: automna gc --yes (past their grace period) or automna destroy USER --force" });
  }
  const region = req.region ?? to.defaultRegion;
  const size = req.size ?? to.defaultSize;
  const defaultImage = config.getString("image") ?? "";
  const imageOf = (user: string): string => req.image ?? (live.get(user)!.image || defaultImage);
  const imageless = users.filter((u) => !imageOf(u));
  if (imageless.length) throw new UsageError(`no agent image known for ${imageless.slice(0, 5).join(", ")}`, { hint: "pass --image or set image (automna config set image REF)" });
  validatePlacement({ provider: to, region, size, image: imageOf(users[0]!) }, await offerings(target, hasToken));
  const billing = hasToken ? await target.billing(size, region) : await catalogBilling(to, size, config);
  const after = { monthly: monthlyTotal(billing), currency: billing[0]?.currency ?? "USD" };
  const usage = await state.listUsage({ openOnly: true });
  const planned = users.map((user): PlannedMigration => {
    const source = live.get(user)!;
    return {
      user, source, after,
      before: monthlyOf(usage.filter((u) => u.instanceId === source.id)),
      params: { from: from.id, to: to.id, region, size, image: imageOf(user), keepSourceMs: req.keepSourceMs, sourceInstanceId: source.id, ...(req.verify === "full" ? { verify: "full" as const } : {}) },
    };
  });
  return { from, to, users: planned };
}
