import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import type { ConfigEntry, ConfigValue } from "../lib/config.js";
import { requireKey } from "../lib/config.js";
import { UsageError } from "../lib/errors.js";
import { addListFlags, DOCUMENT_FORMATS, listOptionsFrom, renderDocument, renderList, resolveFormat, type Column } from "../lib/output.js";
import { readAll } from "../lib/read-all.js";

const COLUMNS: Column<ConfigEntry>[] = [
  { name: "key", value: (e) => e.key },
  { name: "value", value: (e) => (Array.isArray(e.value) ? e.value.join(",") : e.value) },
  { name: "source", value: (e) => e.source },
  { name: "env", value: (e) => e.env, optional: true },
  { name: "description", value: (e) => e.description, optional: true },
];

export async function runConfigGet(ctx: Context, key: string): Promise<{ key: string; value: ConfigValue | null; source: string }> {
  const config = await ctx.config();
  const spec = requireKey(key);
  const source = config.source(key);
  if (spec.secret) return { key, value: source === "unset" ? null : "***", source };
  return { key, value: config.get(key) ?? null, source };
}

export async function runConfigSet(ctx: Context, key: string, value: string): Promise<{ key: string; value: ConfigValue; profile: string; path: string }> {
  const config = await ctx.config();
  const spec = requireKey(key);
  if (value === "-") {
    value = ctx.io.streams.stdin.isTTY === true
      ? await ctx.prompt.password({ message: `${key}:`, flag: `the value on stdin (printf %s "$VALUE" | automna config set ${key} -)` })
      : (await readAll(ctx.io.streams.stdin)).toString("utf8").trim();
    if (value === "") throw new UsageError(`no value for ${key} on stdin`);
  }
  if (key === "region" || key === "size") {
    const [{ checkPlacement }, { providerInfo }] = await Promise.all([import("../lib/catalog-check.js"), import("../providers/catalog.js")]);
    const provider = config.getString("provider");
    await checkPlacement(provider === undefined ? undefined : providerInfo(provider), key, value);
  }
  const stored = config.set(key, value);
  if (spec.env && config.source(key) === "env") ctx.io.warn(`${spec.env} is set in the environment and overrides this value`);
  return { key, value: spec.secret ? "***" : stored, profile: config.profile, path: config.path };
}

export const configCommand: CommandModule = {
  register(config: Command, ctx: Context) {
    config.addHelpText("after", examples("automna config list", "automna --profile ci config profile create", "automna --profile ci config set provider hetzner", "printf %s \"$TOKEN\" | automna config set hetzner.token -"));

    config
      .command("get")
      .description("print one setting's effective value")
      .argument("<key>", "setting name, e.g. region or ssh.user")
      .option("-o, --output <format>", DOCUMENT_FORMATS.join(", "))
      .action(action(ctx, async (key: string, flags: { output?: string }) => {
        const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        const result = await runConfigGet(ctx, key);
        renderDocument(ctx.io, format, result, () => {
          if (result.value === null) ctx.io.info(`${key} is not set`);
          else ctx.io.out(Array.isArray(result.value) ? result.value.join(",") : String(result.value));
        });
        return result.value === null ? 1 : 0;
      }));

    config
      .command("set")
      .description("store a setting in the active profile (secrets: pass - and the value on stdin)")
      .argument("<key>", "setting name")
      .argument("<value>", "the value, or - to read it from stdin")
      .action(action(ctx, async (key: string, value: string) => {
        const spec = requireKey(key);
        if (spec.secret && value !== "-") {
          throw new UsageError(`${key} is a secret and is never taken from the command line`, {
            hint: `pipe it in: printf %s "$VALUE" | automna config set ${key} -   (or set ${spec.env})`,
          });
        }
        const result = await runConfigSet(ctx, key, value);
        if (ctx.globals.json) ctx.io.json(result);
        else ctx.io.success(`${key} set in profile ${result.profile}`);
      }));

    config
      .command("unset")
      .description("remove a setting from the active profile")
      .argument("<key>", "setting name")
      .action(action(ctx, async (key: string) => {
        const cfg = await ctx.config();
        const removed = cfg.unset(key);
        if (ctx.globals.json) ctx.io.json({ key, removed, profile: cfg.profile });
        else ctx.io.success(removed ? `${key} removed from profile ${cfg.profile}` : `${key} was not set in profile ${cfg.profile}`);
      }));

    addListFlags(config
      .command("list")
      .description("every setting with its value and where it comes from (secrets shown as ***)")
      .option("--all", "include settings that are not set, with their variables and descriptions"), COLUMNS)
      .action(action(ctx, async (opts: { all?: boolean; output?: string; columns?: string; header: boolean }) => {
        const output = listOptionsFrom(opts, ctx.globals.json);
        // --all is the reference of every setting: with its variable and what it is for.
        if (opts.all && !output.columns) output.columns = COLUMNS.map((c) => c.name);
        const cfg = await ctx.config();
        renderList(ctx.io, cfg.list(opts.all === true), COLUMNS, output);
      }));

    config
      .command("profile")
      .description("profiles of the configuration file")
      .command("create")
      .description("create the profile --profile names (other commands refuse a profile that does not exist)")
      .action(action(ctx, async () => {
        ctx.createsProfile = true;
        const cfg = await ctx.config();
        const created = cfg.createProfile();
        if (ctx.globals.json) ctx.io.json({ profile: cfg.profile, created, path: cfg.path });
        else ctx.io.success(created ? `profile ${cfg.profile} created in ${cfg.path}` : `profile ${cfg.profile} already exists`);
      }));

    config
      .command("path")
      .description("print the configuration file's path")
      .action(action(ctx, async () => {
        const cfg = await ctx.config();
        if (ctx.globals.json) ctx.io.json({ path: cfg.path, profile: cfg.profile, profiles: cfg.profiles() });
        else ctx.io.out(cfg.path);
      }));
  },
};
