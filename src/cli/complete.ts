import { readdirSync, readFileSync, statSync } from "node:fs";
import { defaultConfigPath, defaultStatePath, profileName } from "../lib/paths.js";
import type { CompletionNode, CompletionSpec, FlagSpec, Values } from "./completion-tree.js";

/**
 * `automna __complete <words...>`: the candidates for the last word of a command line (the words
 * after `automna`, the last one as typed so far, possibly empty). The bash, zsh and fish scripts
 * of `automna completion` all ask this, so the three shells complete alike. It answers from the
 * spec the build wrote and reads the config file and the state database directly: nothing here
 * loads commander or a command (a TAB must feel instant; see bench/completion.mjs).
 */

/** What the words before the cursor chose: the command, the values of the flags that steer values. */
interface Walk {
  node: CompletionNode;
  path: string[];
  positionals: number;
  values: Map<string, string>;
}

function findFlag(node: CompletionNode, word: string): FlagSpec | undefined {
  return node.flags.find((f) => f.names.includes(word));
}

function walk(spec: CompletionSpec, words: string[]): Walk & { pendingFlag?: FlagSpec } {
  const w: Walk = { node: spec.root, path: [], positionals: 0, values: new Map() };
  let afterDashes = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (afterDashes) continue;
    if (word === "--") {
      afterDashes = true;
      continue;
    }
    if (word.startsWith("-") && word.length > 1) {
      const eq = word.indexOf("=");
      const flag = findFlag(w.node, eq > 0 ? word.slice(0, eq) : word);
      if (flag?.value === undefined || eq > 0) {
        if (flag && eq > 0) w.values.set(flag.names[0]!, word.slice(eq + 1));
        continue;
      }
      if (i === words.length - 1) return { ...w, pendingFlag: flag };
      w.values.set(flag.names[0]!, words[++i]!);
      continue;
    }
    const sub = w.positionals === 0 ? w.node.sub[word] : undefined;
    if (sub) {
      w.node = sub;
      w.path.push(word);
    } else w.positionals++;
  }
  return w;
}

/** The config file's chosen profile, read as JSON (conf keeps dotted keys nested). */
function profileSettings(w: Walk, env: NodeJS.ProcessEnv): { profiles: string[]; get(key: string): unknown } {
  const path = w.values.get("--config") || env.AUTOMNA_CONFIG || defaultConfigPath(env);
  let root: { profiles?: Record<string, unknown> } = {};
  try {
    root = JSON.parse(readFileSync(path, "utf8")) as typeof root;
  } catch {
    // no config yet, or unreadable: completion offers what it can without it
  }
  const profiles = root.profiles && typeof root.profiles === "object" ? root.profiles : {};
  const mine = profiles[profileName(w.values.get("--profile"), env)];
  const get = (key: string): unknown => key.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), mine);
  return { profiles: Object.keys(profiles), get };
}

/**
 * User ids in the embedded state database, by prefix, in the database's own order, through its
 * user index: tens of milliseconds at 10,000 users. A state server is not asked (a TAB must not
 * wait on the network or need a token), nor is a database that does not exist created.
 */
async function userIds(w: Walk, env: NodeJS.ProcessEnv, prefix: string): Promise<string[]> {
  const settings = profileSettings(w, env);
  const flag = w.values.get("--state") || env.AUTOMNA_STATE;
  if (flag && /^https?:\/\//.test(flag)) return [];
  if (!flag && typeof settings.get("state.url") === "string") return [];
  const path = flag || (settings.get("state.path") as string | undefined) || defaultStatePath(env, profileName(w.values.get("--profile"), env));
  try {
    if (!statSync(path).isFile()) return [];
  } catch {
    return [];
  }
  const { DatabaseSync } = process.getBuiltinModule("node:sqlite");
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare("SELECT DISTINCT user FROM instances WHERE user >= ? AND user < ? ORDER BY user LIMIT 5000").all(prefix, `${prefix}\u{10FFFF}`);
    return rows.map((r) => String(r.user));
  } catch {
    return [];
  } finally {
    db.close();
  }
}

/** Paths beside what is typed so far (directories end in /). */
function files(prefix: string): string[] {
  const slash = prefix.lastIndexOf("/");
  const dir = prefix.slice(0, slash + 1);
  const base = prefix.slice(slash + 1);
  try {
    return readdirSync(dir || ".", { withFileTypes: true })
      .filter((e) => e.name.startsWith(base) && (base.startsWith(".") || !e.name.startsWith(".")))
      .map((e) => `${dir}${e.name}${e.isDirectory() ? "/" : ""}`);
  } catch {
    return [];
  }
}

/** The provider the words chose (--provider, --to, --from in that order), else the profile's. */
function chosenProvider(spec: CompletionSpec, w: Walk, env: NodeJS.ProcessEnv, forKey?: string): CompletionSpec["providers"][number] | undefined {
  const named = w.values.get("--provider") ?? w.values.get("--to") ?? w.values.get("--from") ?? forKey ?? (profileSettings(w, env).get("provider") as string | undefined);
  return named === undefined ? undefined : spec.providers.find((p) => p.names.includes(named));
}

async function valuesOf(spec: CompletionSpec, w: Walk, values: Values, env: NodeJS.ProcessEnv, cur: string, words: string[]): Promise<string[]> {
  if (Array.isArray(values)) return values;
  switch (values) {
    case "provider": return spec.providers.map((p) => p.id);
    case "region":
    case "size": {
      const one = chosenProvider(spec, w, env);
      const pick = (p: CompletionSpec["providers"][number]): string[] => (values === "region" ? p.regions : p.sizes);
      return one ? pick(one) : [...new Set(spec.providers.flatMap(pick))];
    }
    case "profile": return profileSettings(w, env).profiles;
    case "file": return files(cur);
    case "user": return userIds(w, env, cur);
    case "config-key": return spec.configKeys.map((k) => k.key);
    case "config-value": {
      // `config set KEY <TAB>`: the key's choices; a region or size of the profile's provider.
      const key = words.filter((x) => !x.startsWith("-")).at(-2);
      const entry = spec.configKeys.find((k) => k.key === key);
      if (entry?.choices) return entry.choices;
      if (key === "region" || key === "size") return valuesOf(spec, w, key, env, cur, words);
      return [];
    }
    case "none": return [];
  }
}

export async function complete(spec: CompletionSpec, words: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const cur = words.at(-1) ?? "";
  const before = words.slice(0, -1);
  const w = walk(spec, before);
  let candidates: string[];
  if ("pendingFlag" in w && w.pendingFlag) candidates = await valuesOf(spec, w, w.pendingFlag.value!, env, cur, words);
  else if (cur.startsWith("-")) {
    // `--flag=val<TAB>` (fish and zsh pass it whole): the flag's values, with the flag in front.
    const eq = cur.indexOf("=");
    const flag = eq > 0 ? findFlag(w.node, cur.slice(0, eq)) : undefined;
    if (flag?.value !== undefined) return (await valuesOf(spec, w, flag.value, env, cur.slice(eq + 1), words)).filter((v) => v.startsWith(cur.slice(eq + 1))).map((v) => `${cur.slice(0, eq + 1)}${v}`);
    candidates = w.node.flags.flatMap((f) => f.names).filter((n) => n.startsWith("--") || cur.length <= 2);
  } else {
    const subs = w.positionals === 0 ? Object.keys(w.node.sub) : [];
    const index = Math.min(w.positionals, w.node.args.length - 1);
    const arg = index >= 0 && (w.positionals < w.node.args.length || w.node.variadic) ? w.node.args[index] : undefined;
    candidates = [...subs, ...(arg === undefined ? [] : await valuesOf(spec, w, arg, env, cur, words))];
  }
  return [...new Set(candidates)].filter((c) => c.startsWith(cur));
}

/** The spec the build wrote next to the help pages. */
export function readSpec(): CompletionSpec {
  return JSON.parse(readFileSync(new URL("../../help/completion.json", import.meta.url), "utf8")) as CompletionSpec;
}
