import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, repeatable, type CommandModule } from "../lib/command.js";
import { AutomnaError, errorJson, UsageError } from "../lib/errors.js";
import { addListFlags, addOutputFlag, DOCUMENT_FORMATS, listOptionsFrom, renderDocument, renderList, resolveFormat, type Column } from "../lib/output.js";
import { revealAll, Secret } from "../lib/redact.js";
import { SELECTOR_HELP, selectUsers } from "../lib/selector-users.js";
import { parseInteger, parseKeyValue, validateUser, validateUsers } from "../lib/validate.js";
import type { EnvChange, ScriptRunner } from "../access/agent-env.js";

export interface EnvVariable {
  name: string;
  /** First 12 hex digits of the value's sha256: compare values without seeing them. */
  digest: string;
}

export interface EnvOutcome {
  user: string;
  result: "updated" | "unchanged" | "failed";
  names: string[];
  error: { code: string; message: string; hint?: string } | null;
}

/** Scripts over SSH (or Fly exec) with an environment that holds none of the secret values. */
async function scriptRunner(ctx: Context, hide: string[]): Promise<ScriptRunner> {
  const [{ runOnInstance }, { withoutSecrets }, { lastErrorLine }] = await Promise.all([
    import("../access/run.js"), import("../access/deliver-secrets.js"), import("../access/ssh.js"),
  ]);
  const env = withoutSecrets(ctx.env, hide);
  return async (instance, what, script, stdin) => {
    const r = await runOnInstance(ctx, instance, script, { stdin, env, timeoutMs: 300_000 });
    if (r.exitCode === 0) return r.stdout.toString("utf8");
    throw new AutomnaError(`${what} on ${instance.user}'s instance failed: ${lastErrorLine(r)}`, { code: "remote_failed" });
  };
}

/** The names of a user's agent variables with a digest of each value (values are never shown). */
export async function runEnvList(ctx: Context, user: string): Promise<EnvVariable[]> {
  validateUser(user);
  const [{ resolveTargets }, { readAgentEnv, valueDigest }] = await Promise.all([import("../access/target.js"), import("../access/agent-env.js")]);
  const [t] = await resolveTargets(ctx, [user]);
  const values = await readAgentEnv(t!.provider, t!.instance, await scriptRunner(ctx, []));
  return Object.keys(values).sort().map((name) => ({ name, digest: valueDigest(values[name]!) }));
}

/**
 * Sets or removes variables of each user's agent and restarts it with them, under the user's
 * lease (a migration reading the environment at the same time waits, or this does).
 */
export async function runEnvChange(ctx: Context, users: string[], change: EnvChange, concurrency: number): Promise<EnvOutcome[]> {
  validateUsers(users);
  const [{ resolveTargets }, { updateAgentEnv }, { withLease }, { mapConcurrent }] = await Promise.all([
    import("../access/target.js"), import("../access/agent-env.js"), import("../state/lease.js"), import("../lib/concurrency.js"),
  ]);
  const targets = await resolveTargets(ctx, users);
  const [state, config, who] = await Promise.all([ctx.state(), ctx.config(), ctx.operator()]);
  const port = config.getNumber("health.port") ?? 8080;
  const run = await scriptRunner(ctx, Object.keys(change.set));
  const names = [...Object.keys(change.set), ...change.unset];
  const board = ctx.io.board();
  try {
    return await mapConcurrent(targets, concurrency, async (t): Promise<EnvOutcome> => {
      try {
        board.update(t.user, `${Object.keys(change.set).length ? "setting" : "removing"} ${names.join(", ")}`);
        const changed = await withLease(state, t.user, { who, operation: "env" }, () => updateAgentEnv(t.provider, t.instance, change, run, { port, restart: true }));
        if (changed) await state.appendAudit({ who, action: Object.keys(change.set).length ? "env.set" : "env.unset", target: t.user, details: { names } });
        board.done(t.user, changed ? "updated; the agent restarted with it" : "already so; nothing restarted");
        return { user: t.user, result: changed ? "updated" : "unchanged", names, error: null };
      } catch (error) {
        const e = errorJson(error);
        board.fail(t.user, e.message);
        return { user: t.user, result: "failed", names, error: e };
      }
    });
  } finally {
    board.close();
  }
}

const VARIABLE_COLUMNS: Column<EnvVariable>[] = [
  { name: "name", value: (v) => v.name },
  { name: "digest", value: (v) => v.digest },
];

const OUTCOME_COLUMNS: Column<EnvOutcome>[] = [
  { name: "user", value: (o) => o.user },
  { name: "result", value: (o) => o.result },
  { name: "names", value: (o) => o.names.join(", ") },
  { name: "error", value: (o) => o.error?.message.split("\n")[0] ?? null },
];

function report(ctx: Context, outcomes: EnvOutcome[], output: string | undefined): number {
  renderDocument(ctx.io, resolveFormat(output, ctx.globals.json, DOCUMENT_FORMATS), outcomes, () => renderList(ctx.io, outcomes, OUTCOME_COLUMNS, { format: "table" }));
  const failed = outcomes.filter((o) => o.result === "failed").length;
  return failed ? 3 : 0;
}

export const envCommand: CommandModule = {
  register(env: Command, ctx: Context) {
    env.addHelpText("after", examples(
      "automna env list alice",
      "OPENAI_API_KEY=... automna env set alice bob --secret OPENAI_API_KEY",
      "automna env set alice --env LOG_LEVEL=debug",
      "automna env unset alice --name LOG_LEVEL",
      "automna env set -l plan=pro --env MODEL=large",
    ));

    addListFlags(env
      .command("list")
      .description("names and value digests of a user's agent variables (values are never shown)")
      .argument("<user>", "user id"), VARIABLE_COLUMNS)
      .action(action(ctx, async (user: string, opts: { output?: string; columns?: string; header: boolean }) => {
        const output = listOptionsFrom(opts, ctx.globals.json);
        renderList(ctx.io, await runEnvList(ctx, user), VARIABLE_COLUMNS, output);
      }));

    addOutputFlag(env
      .command("set")
      .description("set variables on each user's agent and restart it with them (exit 3 if some failed)")
      .argument("[users...]", "user ids (or -l)")
      .option("-l, --selector <selector>", SELECTOR_HELP)
      .option("--env <K=V>", "a plain variable (repeatable)", repeatable)
      .option("--secret <NAME>", "a secret from $NAME or stdin, never the command line (repeatable)", repeatable)
      .option("--allow-empty-secret", "accept an empty --secret value (refused otherwise)")
      .option("--concurrency <n>", "users at once", "8"))
      .action(action(ctx, async (named: string[], flags: { selector?: string; env?: string[]; secret?: string[]; allowEmptySecret?: boolean; concurrency: string; output?: string }) => {
        resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        const plain = flags.env ?? [];
        const secrets = flags.secret ?? [];
        if (plain.length + secrets.length === 0) throw new UsageError("nothing to set", { hint: "pass --env K=V or --secret NAME" });
        const concurrency = parseInteger("--concurrency", flags.concurrency, 1, 1000);
        const users = await selectUsers(ctx, named, flags, { command: "env set" });
        const { collectSecrets, readStdin } = await import("../lib/secret-input.js");
        const set = Object.fromEntries(plain.map((e) => parseKeyValue("--env", e)).map(([k, v]) => [k, new Secret(v)]));
        Object.assign(set, await collectSecrets(ctx, secrets, () => readStdin(ctx.io.streams.stdin), { allowEmpty: flags.allowEmptySecret }));
        const { refuseLineBreaks } = await import("../providers/vm/agent-container.js");
        refuseLineBreaks("--env/--secret", revealAll(set));
        return report(ctx, await runEnvChange(ctx, users, { set, unset: [] }, concurrency), flags.output);
      }));

    addOutputFlag(env
      .command("unset")
      .description("remove variables from each user's agent and restart it without them (exit 3 if some failed)")
      .argument("[users...]", "user ids (or -l)")
      .option("-l, --selector <selector>", SELECTOR_HELP)
      .requiredOption("--name <NAME>", "a variable to remove (repeatable)", repeatable)
      .option("--concurrency <n>", "users at once", "8"))
      .action(action(ctx, async (named: string[], flags: { selector?: string; name: string[]; concurrency: string; output?: string }) => {
        resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        for (const n of flags.name) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new UsageError(`--name takes a variable name, got "${n}"`);
        const concurrency = parseInteger("--concurrency", flags.concurrency, 1, 1000);
        const users = await selectUsers(ctx, named, flags, { command: "env unset" });
        return report(ctx, await runEnvChange(ctx, users, { set: {}, unset: flags.name }, concurrency), flags.output);
      }));
  },
};
