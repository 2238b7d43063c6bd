import type { Context } from "../../context.js";
import { UsageError } from "../../lib/errors.js";
import { confirmRisk } from "../../lib/prompt.js";
import type { AbandonResult } from "../../migrate/abandon.js";

/**
 * `migrate abandon <op>`: shows what closing the operation leaves at the providers and in the
 * object store, asks (off a terminal: --yes), then closes it (src/migrate/abandon.ts).
 */
export async function runMigrateAbandon(ctx: Context, opId: string): Promise<AbandonResult> {
  if (!/^op_[a-z0-9]+$/.test(opId)) throw new UsageError(`"${opId}" is not an operation id (op_...)`, { hint: "automna migrate status lists them" });
  const [state, registry, config] = await Promise.all([ctx.state(), ctx.providers(), ctx.config()]);
  const [{ abandonable, abandonMigration, describeLeftovers, leftoversOf }, { parseDuration }] = await Promise.all([import("../../migrate/abandon.js"), import("../../lib/validate.js")]);
  const { op, journal } = await abandonable(state, opId);
  if (op.status !== "abandoned") {
    const lines = describeLeftovers(op.user, await leftoversOf({ state, registry }, op, journal));
    const leaves = lines.length ? ` It leaves: ${lines.join("; ")}.` : " It leaves nothing behind.";
    await confirmRisk(ctx.prompt, ctx.globals.yes, `Abandon migration ${op.id} of ${op.user} (${op.status} at ${op.step ?? "start"})? It is closed without resuming or rolling back.${leaves}`,
      "migrate abandon cancelled; nothing was changed");
  }
  const ttl = config.getString("migrate.leaseTtl");
  return abandonMigration({ state, registry, who: await ctx.operator(), leaseTtlMs: ttl ? parseDuration("migrate.leaseTtl", ttl) : 60_000 }, opId);
}

export async function renderAbandon(ctx: Context, result: AbandonResult): Promise<void> {
  if (ctx.globals.json) return ctx.io.json(result);
  const { describeLeftovers } = await import("../../migrate/abandon.js");
  for (const line of describeLeftovers(result.user, result.leftovers)) ctx.io.warn(line);
  ctx.io.success(`${result.op}: abandoned; ${result.user} can be migrated or destroyed again`);
}
