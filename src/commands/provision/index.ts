import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, repeatable, type CommandModule } from "../../lib/command.js";
import { CancelledError, failureOf, OutputClosedError, UsageError } from "../../lib/errors.js";
import { addOutputFlag, DOCUMENT_FORMATS, renderDocument, renderList, resolveFormat, type Column } from "../../lib/output.js";
import { count } from "../../lib/words.js";
import { collectSecrets, readStdin } from "../../lib/secret-input.js";
import { parseLabels } from "../../lib/labels.js";
import { parseInteger, parseKeyValue, validateUsers } from "../../lib/validate.js";
import { providerChoices } from "../../providers/catalog.js";
import { catalogBilling, monthlyTotal, offerings, resolvePlacement, validatePlacement } from "../../providers/plan.js";
import type { ProvisionOutcome } from "../../fleet/provision-one.js";
import { refuseUndeliverableSecrets, sshSecretDelivery } from "./secrets.js";

export interface ProvisionOptions {
  users: string[];
  fromFile?: string | undefined;
  provider?: string | undefined;
  region?: string | undefined;
  size?: string | undefined;
  image?: string | undefined;
  env: string[];
  secret: string[];
  /** `--label k=v`: set on each user provisioned (or already there), in the state store. */
  label?: string[] | undefined;
  /** `--allow-empty-secret`: an empty --secret value is meant (refused otherwise). */
  allowEmptySecret?: boolean | undefined;
  concurrency: number;
  dryRun: boolean;
  wait: boolean;
  /** With --provider auto: the policy's order (`first` with room, or `cheapest`). */
  placement?: string | undefined;
  /** `--allow-sleep`: provision on a provider whose instances sleep when idle (refused otherwise). */
  allowSleep?: boolean | undefined;
}

export interface PlanRow {
  user: string;
  action: "create" | "exists" | "resume";
  provider: string;
  region: string;
  size: string;
  monthlyPrice: number;
  currency: string;
  /** With --provider auto: why the user lands there. */
  why?: string;
}

export interface ProvisionReport {
  dryRun: boolean;
  provider: string;
  region: string;
  size: string;
  image: string;
  plan?: PlanRow[];
  total?: { monthlyPrice: number; currency: string; users: number };
  results: ProvisionOutcome[];
  summary: Record<ProvisionOutcome["result"], number>;
}

/** Users from arguments and `--from-file FILE|-` (one per line, # comments and blanks ignored). */
async function collectUsers(ctx: Context, opts: ProvisionOptions, stdinText: () => Promise<string>): Promise<string[]> {
  const users = [...opts.users];
  if (opts.fromFile !== undefined) {
    let text: string;
    try {
      text = opts.fromFile === "-" ? await stdinText() : readFileSync(opts.fromFile, "utf8");
    } catch (error) {
      throw new UsageError(`--from-file: cannot read ${opts.fromFile}: ${(error as Error).message}`);
    }
    users.push(...text.split(/\r?\n/).map((l) => l.replace(/#.*/, "").trim()).filter(Boolean));
  }
  if (users.length === 0) throw new UsageError("no users given", { hint: "pass user ids, or --from-file FILE (- for stdin)" });
  return validateUsers(users);
}

export async function runProvision(ctx: Context, opts: ProvisionOptions): Promise<ProvisionReport> {
  let stdinCache: Promise<string> | undefined;
  const stdinText = (): Promise<string> => (stdinCache ??= readStdin(ctx.io.streams.stdin));
  const users = await collectUsers(ctx, opts, stdinText);
  const env = Object.fromEntries(opts.env.map((e) => parseKeyValue("--env", e)));
  const labels = parseLabels("--label", opts.label ?? []);
  if (opts.provider === "auto" || opts.placement !== undefined) {
    if (opts.provider !== undefined && opts.provider !== "auto") throw new UsageError("--placement goes with --provider auto", { hint: "automna provision alice --provider auto --placement cheapest" });
    return (await import("./auto.js")).runAutoProvision(ctx, opts, users, env, labels, stdinText);
  }
  const [config, registry] = await Promise.all([ctx.config(), ctx.providers()]);
  const placement = resolvePlacement(config, registry, opts);
  const provider = await registry.get(placement.provider.id);
  if (provider.capabilities.alwaysOn && !opts.allowSleep) {
    throw new UsageError(`automna does not provision on ${provider.title} by default: ${provider.capabilities.alwaysOn}`, { hint: "pick another provider, or pass --allow-sleep to make one anyway (flagged \"not always-on\")" });
  }
  refuseUndeliverableSecrets(provider, opts);
  // VMs get their secrets over SSH once they run.
  const overSsh = opts.secret.length > 0 && provider.reach === "ssh";
  const hasToken = config.secret(placement.provider.tokenKey) !== undefined;
  validatePlacement(placement, await offerings(provider, hasToken || !opts.dryRun));
  const state = await ctx.state();
  const summary = { created: 0, adopted: 0, resumed: 0, exists: 0, failed: 0 };
  const report: ProvisionReport = { dryRun: opts.dryRun, provider: placement.provider.id, region: placement.region, size: placement.size, image: placement.image, results: [], summary };

  if (opts.dryRun) {
    const billing = hasToken ? await provider.billing(placement.size, placement.region) : await catalogBilling(placement.provider, placement.size, config);
    const each = monthlyTotal(billing);
    const currency = billing[0]?.currency ?? "USD";
    const existing = new Map((await state.listInstances({ users })).filter((i) => i.role === "live").map((i) => [i.user, i]));
    report.plan = users.map((user) => {
      const have = existing.get(user);
      const act = !have ? "create" : have.status === "provisioning" || have.status === "failed" ? "resume" : "exists";
      return { user, action: act, provider: have?.provider ?? placement.provider.id, region: have?.region ?? placement.region, size: have?.size ?? placement.size, monthlyPrice: act === "exists" ? 0 : each, currency };
    });
    const billed = report.plan.filter((p) => p.action !== "exists");
    report.total = { monthlyPrice: Math.round(billed.length * each * 100) / 100, currency, users: billed.length };
    return report;
  }

  const secrets = await collectSecrets(ctx, opts.secret, stdinText, { allowEmpty: opts.allowEmptySecret });
  const health = { port: config.getNumber("health.port") ?? 8080, path: config.getString("health.path") ?? "/healthz" };
  const deliverSecrets = overSsh ? await sshSecretDelivery(ctx, { image: placement.image, port: health.port, env, secrets }) : undefined;
  const { provisionOne } = await import("../../fleet/provision-one.js");
  const { mapConcurrent } = await import("../../lib/concurrency.js");
  const board = ctx.io.board();
  const who = await ctx.operator();
  const access = await (await import("../../access/provision-keys.js")).provisionAccess(ctx);
  try {
    report.results = await mapConcurrent(users, opts.concurrency, async (user) => {
      const outcome = await provisionOne({
        state, provider, placement, env, secrets, noWait: !opts.wait, allowSleep: opts.allowSleep === true, who, now: () => ctx.clock.now(), health,
        step: (u, text) => board.update(u, text), access, deliverSecrets, labels,
      }, user);
      if (outcome.result === "failed") board.fail(user, outcome.error?.message ?? "failed");
      else board.done(user, outcome.result === "exists" ? `already has an instance on ${outcome.provider} (${outcome.status}), left alone` : `${outcome.result} (${outcome.status})`);
      return outcome;
    });
  } finally {
    board.close();
  }
  for (const r of report.results) summary[r.result]++;
  if (ctx.signal.aborted) throw interrupted(ctx, report.results);
  return report;
}

/**
 * Ctrl-C, SIGTERM or a closed output pipe while provisioning: which users were left unfinished
 * (resumable: their rows and markers stay, so the same command finds what was made rather than
 * making it twice), which are done, and the next command.
 */
function interrupted(ctx: Context, results: ProvisionOutcome[]): CancelledError {
  const open = results.filter((r) => r.result === "failed").map((r) => r.user);
  const done = results.filter((r) => r.result !== "failed").map((r) => r.user);
  const why = ctx.signal.reason instanceof OutputClosedError ? "the output pipe closed" : "Ctrl-C or SIGTERM";
  return new CancelledError(`provision interrupted (${why}): ${open.length ? `no agent serves yet for ${open.join(", ")}` : "every user was finished"}${done.length ? `; done: ${done.join(", ")}` : ""}`, {
    code: "interrupted",
    hint: open.length ? `next: automna provision ${open.join(" ")} with the same flags resumes them (what was made is found by its marker, never made twice)` : undefined,
  });
}

const COLUMNS: Column<ProvisionOutcome>[] = [
  { name: "user", value: (r) => r.user },
  { name: "result", value: (r) => r.result },
  { name: "provider", value: (r) => r.provider },
  { name: "region", value: (r) => r.region },
  { name: "size", value: (r) => r.size },
  { name: "status", value: (r) => r.status },
  { name: "address", value: (r) => r.addresses.ipv4 ?? r.addresses.private ?? null },
  { name: "error", value: (r) => r.error?.message.split("\n")[0] ?? null },
];

const PLAN_COLUMNS: Column<PlanRow>[] = [
  { name: "user", value: (r) => r.user },
  { name: "action", value: (r) => r.action },
  { name: "provider", value: (r) => r.provider },
  { name: "region", value: (r) => r.region },
  { name: "size", value: (r) => r.size },
  { name: "monthly", value: (r) => `${r.monthlyPrice.toFixed(2)} ${r.currency}`, align: "right" },
  { name: "why", value: (r) => r.why ?? null },
];

export const provisionCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addOutputFlag(command
      .argument("[users...]", "user ids")
      .option("--from-file <file>", "read user ids from a file, one per line (- for stdin)")
      .option("--provider <name>", `${providerChoices()}, or auto: where the placement policy has room (config placement)`)
      .option("--placement <order>", "with --provider auto: first (the policy's order, default) or cheapest")
      .option("--region <name>", "provider region")
      .option("--size <name>", "provider size")
      .option("--image <ref>", "agent container image")
      .option("--env <K=V>", "environment for the agent (repeatable)", repeatable)
      .option("--label <key=value>", "label the users (repeatable; e.g. plan=pro), for -l selectors and cost-report --by label:KEY", repeatable)
      .option("--secret <NAME>", "secret from $NAME or stdin (repeatable; Fly: app secrets, VMs: a 0600 env file written over SSH)", repeatable)
      .option("--allow-empty-secret", "accept an empty --secret value (refused otherwise)")
      .option("--concurrency <n>", "users provisioned at once", "8")
      .option("--dry-run", "show the plan and its monthly price; change nothing")
      .option("--no-wait", "return once creates are accepted")
      .option("--allow-sleep", "provision on a provider whose instances sleep when idle (Cloudflare Sandbox), flagged not always-on"))
      .addHelpText("after", examples(
        "automna provision alice --provider fly --region ams",
        "automna provision --from-file users.txt --provider hetzner --concurrency 16",
        "automna provision alice bob --dry-run",
        "automna provision --from-file users.txt --provider auto --placement cheapest --dry-run",
        "automna provision carol --provider hetzner --label plan=pro --label cohort=beta",
        "OPENAI_API_KEY=... automna provision alice --provider fly --secret OPENAI_API_KEY",
        "printf %s \"$KEY\" | automna provision bob --provider hetzner --secret ANTHROPIC_API_KEY",
      ))
      .action(action(ctx, async (users: string[], raw: Omit<ProvisionOptions, "users" | "concurrency" | "dryRun" | "env" | "secret"> & { concurrency: string; dryRun?: boolean; env?: string[]; secret?: string[]; output?: string }) => {
        const format = resolveFormat(raw.output, ctx.globals.json, DOCUMENT_FORMATS);
        const opts: ProvisionOptions = { ...raw, env: raw.env ?? [], secret: raw.secret ?? [], users, concurrency: parseInteger("--concurrency", raw.concurrency, 1, 64), dryRun: raw.dryRun === true };
        const report = await runProvision(ctx, opts);
        if (report.plan) {
          const plan = report.plan;
          renderDocument(ctx.io, format, report, () => {
            renderList(ctx.io, plan, PLAN_COLUMNS, { format: "table" });
            ctx.io.info(`dry run: ${count(report.total!.users, "instance")} to create, ${report.total!.monthlyPrice.toFixed(2)} ${report.total!.currency} per month in total (list prices before VAT/tax); nothing changed`);
          });
          return;
        }
        const s = report.summary;
        if (report.results.length === 1 && s.failed === 1) {
          // One user: the error itself, with its own exit code and hint.
          throw failureOf(report.results[0]!);
        }
        renderDocument(ctx.io, format, report, () => renderList(ctx.io, report.results, COLUMNS, { format: "table" }));
        ctx.io.info(`${s.created} created, ${s.adopted + s.resumed} adopted or resumed, ${s.exists} already there, ${s.failed} failed`);
        if (s.failed === 0) return 0;
        return s.failed === report.results.length ? 1 : 3;
      }));
  },
};
