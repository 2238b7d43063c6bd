import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { closest } from "../lib/config-keys.js";
import { UsageError } from "../lib/errors.js";
import { loadCommand } from "./index.js";

/** `automna help migrate status` prints what `automna migrate status --help` prints. */
export const helpCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .argument("[command...]", "a command and its subcommands")
      .addHelpText("after", examples("automna help list", "automna help migrate status"))
      .action(action(ctx, async (words: string[]) => {
        let target = command.parent!;
        for (const [i, word] of words.entries()) {
          const next = target.commands.find((c) => c.name() === word);
          if (!next) throw unknownCommand(words.slice(0, i), word, target);
          if (i === 0) await loadCommand(next, ctx);
          target = next;
        }
        target.outputHelp();
      }));
  },
};

function unknownCommand(parents: string[], word: string, parent: Command): UsageError {
  const near = closest(word, parent.commands.map((c) => c.name()), 1);
  const where = parents.length ? `automna help ${parents.join(" ")}` : "automna --help";
  return new UsageError(`unknown command '${[...parents, word].join(" ")}'${near.length ? ` (did you mean ${near[0]}?)` : ""}`, {
    hint: `run "${where}" for the list of commands`,
  });
}
