import type { Context } from "../../context.js";
import { errorJson, UsageError } from "../../lib/errors.js";
import type { ProvisionOutcome } from "../../fleet/provision-one.js";
import type { Labels } from "../../state/types.js";
import { collectSecrets } from "../../lib/secret-input.js";
import { placementEntries } from "./auto-entries.js";
import type { PlanRow, ProvisionOptions, ProvisionReport } from "./index.js";
import { sshSecretDelivery } from "./secrets.js";

/**
 * `provision --provider auto` (or `--placement first|cheapest`): each user goes where the
 * profile's `placement` policy has room (src/fleet/placement.ts). A create refused for the
 * provider's account limit leaves nothing behind (provisionOne removes its intent row when the
 * provider made nothing) and moves that user, and the rest of the run, to the next entry.
 */
export async function runAutoProvision(ctx: Context, opts: ProvisionOptions, users: string[], env: Record<string, string>, labels: Labels = {}, stdinText: () => Promise<string> = () => Promise.resolve("")): Promise<ProvisionReport> {
  const placementOrder = opts.placement ?? "first";
  if (placementOrder !== "first" && placementOrder !== "cheapest") throw new UsageError(`--placement must be first or cheapest, got "${placementOrder}"`);
  const [config, state] = await Promise.all([ctx.config(), ctx.state()]);
  const { Placer, isLimitRefusal } = await import("../../fleet/placement.js");
  const image = opts.image ?? config.getString("image") ?? "";
  const { entries, providers, prices, rates } = await placementEntries(ctx, opts, image, placementOrder);
  const placer = new Placer(entries, await state.listInstances({ role: "live" }));
  const summary = { created: 0, adopted: 0, resumed: 0, exists: 0, failed: 0 };
  const report: ProvisionReport = { dryRun: opts.dryRun, provider: "auto", region: "", size: "", image, results: [], summary };
  const existing = new Map((await state.listInstances({ users })).filter((i) => i.role === "live").map((i) => [i.user, i]));

  if (opts.dryRun) {
    report.plan = users.map((user): PlanRow => {
      const have = existing.get(user);
      if (have) return { user, action: have.status === "provisioning" || have.status === "failed" ? "resume" : "exists", provider: have.provider, region: have.region, size: have.size, monthlyPrice: 0, currency: "USD", why: "already has an instance" };
      const slot = placer.take();
      if (!slot) return { user, action: "create", provider: "-", region: "-", size: "-", monthlyPrice: 0, currency: "USD", why: "no placement entry has room" };
      const e = entries[slot.index]!;
      const price = prices.get(e)!;
      return { user, action: "create", provider: e.provider.id, region: e.region, size: e.size, monthlyPrice: price.monthly, currency: price.currency, why: slot.why };
    });
    const billed = report.plan.filter((p) => p.action === "create" && p.provider !== "-");
    // Entries may bill in USD and EUR: the total is in the first one's currency, converted at pricing.eurUsd.
    const currency = billed[0]?.currency === "EUR" ? "EUR" : "USD";
    const { convert } = await import("../../pricing/money.js");
    report.total = { monthlyPrice: Math.round(billed.reduce((s, p) => s + convert(p.monthlyPrice, p.currency, currency, rates), 0) * 100) / 100, currency, users: billed.length };
    return report;
  }

  const health = { port: config.getNumber("health.port") ?? 8080, path: config.getString("health.path") ?? "/healthz" };
  const secrets = await collectSecrets(ctx, opts.secret, stdinText, { allowEmpty: opts.allowEmptySecret });
  // VM entries get the secrets over SSH once the machine runs; Fly and Koyeb keep them at create.
  const overSsh = Object.keys(secrets).length > 0 && [...providers.values()].some((p) => p.reach === "ssh");
  const deliverSecrets = overSsh
    ? await sshSecretDelivery(ctx, { image, port: health.port, env, secrets })
    : undefined;
  const [{ provisionOne }, { mapConcurrent }, access] = await Promise.all([
    import("../../fleet/provision-one.js"), import("../../lib/concurrency.js"), import("../../access/provision-keys.js").then((m) => m.provisionAccess(ctx)),
  ]);
  const board = ctx.io.board();
  const who = await ctx.operator();
  try {
    report.results = await mapConcurrent(users, opts.concurrency, async (user): Promise<ProvisionOutcome> => {
      const have = existing.get(user);
      for (;;) {
        const slot = have ? { index: entries.findIndex((e) => e.provider.id === have.provider && e.region === have.region), why: "resumed" } : placer.take();
        const e = slot && slot.index >= 0 ? entries[slot.index]! : undefined;
        if (!slot || !e) {
          const outcome: ProvisionOutcome = { user, result: "failed", provider: have?.provider ?? "-", region: have?.region ?? "-", size: have?.size ?? "-", status: null, instanceId: null, resources: {}, addresses: {}, monthlyPrice: null, currency: null, error: errorJson(new UsageError(have ? `${user} has an instance on ${have.provider}:${have.region}, outside the placement policy` : "no placement entry has room", { hint: "automna config get placement; raise a max or add an entry" })) };
          board.fail(user, outcome.error!.message);
          return outcome;
        }
        board.update(user, `placing on ${e.label} (${slot.why})`);
        const outcome = await provisionOne({
          state, provider: providers.get(e.provider.id)!, placement: { provider: e.provider, region: e.region, size: e.size, image }, env, secrets, noWait: !opts.wait, who,
          deliverSecrets: providers.get(e.provider.id)!.reach === "ssh" ? deliverSecrets : undefined,
          now: () => ctx.clock.now(), health, step: (u, text) => board.update(u, `${e.label}: ${text}`), access, meta: { placement: { entry: e.label, why: slot.why } }, labels,
        }, user);
        if (outcome.result === "failed" && !have) {
          const { failureOf } = await import("../../lib/errors.js");
          if (isLimitRefusal(failureOf(outcome))) {
            placer.full(slot.index, outcome.error!.message.split("\n")[0]!);
            board.update(user, `${e.label} is at its account limit: moving on`);
            continue;
          }
          placer.release(slot.index);
        }
        if (outcome.result === "failed") board.fail(user, outcome.error?.message ?? "failed");
        else board.done(user, `${outcome.result} on ${e.label} (${slot.why})`);
        return outcome;
      }
    });
  } finally {
    board.close();
  }
  for (const r of report.results) summary[r.result]++;
  return report;
}
