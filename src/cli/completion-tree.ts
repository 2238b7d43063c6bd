import type { Command, Option } from "commander";
import { findCommand } from "../commands/index.js";
import { CONFIG_KEYS } from "../lib/config-keys.js";
import { OUTPUT_FORMATS } from "../lib/output.js";
import { PROVIDERS, providerCatalog } from "../providers/catalog.js";
import { INSTANCE_STATUSES } from "../state/types.js";

/**
 * What shell completion knows of automna, computed once from the real program at build time
 * (scripts/write-help-cache.mjs writes it to dist/help/completion.json) so that a TAB costs a
 * file read, not loading every command (src/cli/complete.ts answers from it).
 */

/** Values a flag or an argument takes: a kind looked up when completing, or a fixed list. */
export type ValueKind = "provider" | "region" | "size" | "profile" | "file" | "user" | "config-key" | "config-value" | "none";
export type Values = ValueKind | string[];

export interface FlagSpec {
  names: string[];
  /** What its value completes to; absent for a flag that takes no value. */
  value?: Values;
}

export interface CompletionNode {
  sub: Record<string, CompletionNode>;
  flags: FlagSpec[];
  /** What each positional argument completes to; the last one repeats when it is variadic. */
  args: Values[];
  variadic: boolean;
}

export interface CompletionSpec {
  root: CompletionNode;
  providers: { id: string; names: string[]; regions: string[]; sizes: string[] }[];
  configKeys: { key: string; choices?: string[] }[];
}

/** The flags whose values are not free text, by long name. */
const FLAG_VALUES: Record<string, Values> = {
  "--provider": "provider", "--from": "provider", "--to": "provider", "--region": "region", "--size": "size",
  "--profile": "profile", "--config": "file", "--state": "file", "--from-file": "file", "--db": "file",
  "--status": [...INSTANCE_STATUSES], "--role": ["live", "target", "retired"], "--currency": ["USD", "EUR"],
  "--by": ["user", "provider", "region", "label:"],
};

function flagSpec(option: Option, path: string[]): FlagSpec {
  const names = [option.long, option.short].filter((n): n is string => !!n);
  if (!option.required && !option.optional) return { names };
  const long = option.long ?? "";
  // `-o`: the formats its description lists (each command lists only those it prints).
  if (long === "--output") return { names, value: OUTPUT_FORMATS.filter((f) => new RegExp(`\\b${f}\\b`).test(option.description)) };
  // migrate's and others' --from is a provider, but restore's is a backup id.
  if (long === "--from" && path[0] !== "migrate") return { names, value: "none" };
  return { names, value: FLAG_VALUES[long] ?? "none" };
}

/** What a positional argument completes to, from its name (`<user>`, `[users...]`, `<key>`). */
function argValues(name: string, path: string[]): Values {
  if (/^(user|users|operands)$/.test(name)) return "user";
  if (name === "key" && path[0] === "config") return "config-key";
  if (name === "value" && path[0] === "config") return "config-value";
  if (name === "shell") return ["bash", "zsh", "fish"];
  if (name === "provider" || name === "providers") return "provider";
  if (name === "file" || name === "path") return "file";
  return "none";
}

function node(cmd: Command, path: string[], globals: FlagSpec[]): CompletionNode {
  const own = cmd.options.map((o) => flagSpec(o, path));
  const sub: Record<string, CompletionNode> = {};
  for (const c of cmd.commands) sub[c.name()] = node(c, [...path, c.name()], globals);
  const args = cmd.registeredArguments.map((a) => argValues(a.name(), path));
  return { sub, flags: [...own, ...globals, { names: ["--help", "-h"] }], args, variadic: cmd.registeredArguments.at(-1)?.variadic === true };
}

/** Builds the spec from a program whose commands are all loaded. */
export async function completionSpec(program: Command): Promise<CompletionSpec> {
  const all = program.options.map((o) => flagSpec(o, []));
  const root: CompletionNode = { sub: {}, flags: [...all, { names: ["--help", "-h"] }], args: [], variadic: false };
  for (const cmd of program.commands) {
    // A command's own flags, and only the global flags it honours (plus those every command does).
    const honoured = new Set<string>([...(findCommand(cmd.name())?.globals ?? []).map((g) => (g === "color" ? "--no-color" : g === "input" ? "--no-input" : `--${g}`)),
      "--quiet", "--verbose", "--debug", "--no-color"]);
    root.sub[cmd.name()] = node(cmd, [cmd.name()], all.filter((f) => f.names.some((n) => honoured.has(n))));
  }
  const providers = await Promise.all(PROVIDERS.map(async (p) => {
    const cat = await providerCatalog(p.id);
    return { id: p.id, names: [p.id, ...p.aliases], regions: cat.regions.map((r) => r.name), sizes: cat.sizes.map((s) => s.name) };
  }));
  return { root, providers, configKeys: CONFIG_KEYS.map((k) => (k.choices ? { key: k.key, choices: [...k.choices] } : { key: k.key })) };
}
