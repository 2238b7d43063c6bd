import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { NotFoundError, UsageError } from "../lib/errors.js";
import { formatLabels, parseLabelChange } from "../lib/labels.js";
import { addListFlags, listOptionsFrom, renderList, type Column } from "../lib/output.js";
import { addSelectionFlags, selectUsers } from "../lib/selector-users.js";
import type { UserLabels } from "../state/types.js";

/** Operands that change labels (`plan=pro`, `cohort-`), apart from user ids (which hold neither `=` nor a trailing `-`). */
function isChange(operand: string): boolean {
  return operand.includes("=") || operand.endsWith("-");
}

/**
 * `automna label`: sets (`k=v`) and removes (`k-`) labels of users named or selected by -l, and
 * prints each user's labels after; with no change, only prints them. Only users with an instance
 * can be labelled, so a mistyped id is an error rather than a label nobody will ever match.
 */
export async function runLabel(ctx: Context, operands: string[], selector: string | undefined): Promise<UserLabels[]> {
  const change = parseLabelChange(operands.filter(isChange));
  const named = operands.filter((o) => !isChange(o));
  const users = await selectUsers(ctx, named, { selector }, { command: "label", instances: "any" });
  const state = await ctx.state();
  const known = new Set((await state.listInstances({ users })).map((i) => i.user));
  const unknown = users.filter((u) => !known.has(u));
  if (unknown.length) throw new NotFoundError(`${unknown.join(", ")} ha${unknown.length === 1 ? "s" : "ve"} no instance; nothing was labelled`, { hint: "automna list shows the users; provision --label labels new ones" });
  const changes = Object.keys(change.set ?? {}).length + (change.remove?.length ?? 0);
  if (changes === 0) {
    const have = new Map((await state.listLabels(users)).map((l) => [l.user, l]));
    return users.map((user) => have.get(user) ?? { user, labels: {}, updatedAt: "" });
  }
  const out: UserLabels[] = [];
  for (const user of users) out.push(await state.updateLabels(user, change));
  return out;
}

const COLUMNS: Column<UserLabels>[] = [
  { name: "user", value: (r) => r.user },
  { name: "labels", value: (r) => formatLabels(r.labels) || null },
  { name: "updated", value: (r) => r.updatedAt.slice(0, 19).replace("T", " ") || null, optional: true },
];

export const labelCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addListFlags(addSelectionFlags(command
      .argument("[operands...]", "user ids, then key=value to set and key- to remove")), COLUMNS)
      .addHelpText("after", `${examples(
        "automna label alice bob plan=pro cohort=beta",
        "automna label alice cohort-",
        "automna label -l cohort=beta cohort=ga",
        "automna label alice",
      )}
Keys and values follow Kubernetes' label rules (plan, example.com/cohort; values up to 63 characters).
key=value sets (replacing an earlier value), key- removes; with neither, the users' labels are printed.
Labels belong to the user and stay through migrations; every change is in the audit log
(automna state audit --action labels.update). Select users by them with -l on list, exec, logs,
env set, migrate, backup and destroy, and group spend with cost-report --by label:KEY.
`)
      .action(action(ctx, async (operands: string[], flags: { selector?: string; output?: string; columns?: string; header: boolean }) => {
        const output = listOptionsFrom(flags, ctx.globals.json);
        if (operands.length === 0 && flags.selector === undefined) throw new UsageError("no users given", { hint: "automna label alice plan=pro" });
        renderList(ctx.io, await runLabel(ctx, operands, flags.selector), COLUMNS, output);
      }));
  },
};
