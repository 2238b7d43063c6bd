import type { Context } from "../context.js";
import { UsageError } from "./errors.js";
import { matches, parseSelector } from "./selector.js";
import { validateUsers } from "./validate.js";

/** The flags a command that acts on users takes besides the user ids (see addSelectionFlags). */
export interface SelectionFlags {
  selector?: string | undefined;
  all?: boolean | undefined;
}

export interface SelectionScope {
  /** How the command is spelled in hints (`exec`, `env set`). */
  command: string;
  /** Which instances make a user selectable by -l and --all: a live one (default), or any (destroy). */
  instances?: "live" | "any";
  /** Only users whose instance runs on this provider id. */
  provider?: string | undefined;
  /** `--all` on a fleet with nobody in it is an empty selection, not an error (a nightly cron job). */
  allMayBeEmpty?: boolean;
}

export const SELECTOR_HELP = "the users whose labels match (plan=pro,cohort!=beta; see automna label)";

/**
 * `-l SELECTOR` (and `--all` where the command takes it) on a command that acts on users. Given
 * as a function over commander's option method so every command spells and explains them alike.
 */
export function addSelectionFlags<C extends { option(flags: string, description: string): C }>(command: C, all?: string): C {
  const c = command.option("-l, --selector <selector>", SELECTOR_HELP);
  return all === undefined ? c : c.option("--all", all);
}

/**
 * The users a command acts on: the ids it was given, or every user that -l selects (or --all,
 * every user), among those with an instance. Exactly one of the three ways; a selection that
 * matches nobody is an error (exit 2) rather than a silent no-op, so a typo in a label never
 * looks like success.
 */
export async function selectUsers(ctx: Context, users: string[], flags: SelectionFlags, scope: SelectionScope): Promise<string[]> {
  const ways = [users.length > 0, flags.selector !== undefined, flags.all === true].filter(Boolean).length;
  if (ways > 1) throw new UsageError(`give user ids, -l or --all, not more than one`, { hint: `e.g. automna ${scope.command} -l plan=pro` });
  if (ways === 0) {
    throw new UsageError("no users given", { hint: `name them, or select them by label: automna ${scope.command} -l plan=pro${flags.all === undefined ? "" : " (or --all)"}` });
  }
  if (users.length > 0) return validateUsers(users);
  const selector = flags.selector === undefined ? undefined : parseSelector(flags.selector);
  const state = await ctx.state();
  const [instances, labels] = await Promise.all([
    state.listInstances({ provider: scope.provider, ...(scope.instances === "any" ? {} : { role: "live" as const }) }),
    selector ? state.listLabels() : Promise.resolve([]),
  ]);
  const byUser = new Map(labels.map((l) => [l.user, l.labels]));
  const chosen = [...new Set(instances.map((i) => i.user))].filter((u) => !selector || matches(selector, byUser.get(u)));
  if (chosen.length === 0 && !(scope.allMayBeEmpty && !selector)) {
    const what = selector ? `-l "${selector.text}" matches no user` : "there are no users";
    throw new UsageError(`${what}${scope.provider ? ` on ${scope.provider}` : ""} with ${scope.instances === "any" ? "an" : "a live"} instance; nothing to do`, {
      hint: "automna list shows each user's labels",
    });
  }
  return chosen;
}
