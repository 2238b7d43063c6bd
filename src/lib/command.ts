import type { Command } from "commander";
import type { Context, GlobalOptions } from "../context.js";

/**
 * A top-level command's module: the builder that declares its arguments, flags and subcommands
 * on the command src/cli.ts made for it (already named and described from its manifest entry in
 * src/commands/index.ts) and wires each action to a run function.
 */
export interface CommandModule {
  register(command: Command, ctx: Context): void;
}

export const COMMAND_GROUPS = ["Fleet", "Access", "Migration", "Cost", "State", "Setup"] as const;
export type CommandGroup = (typeof COMMAND_GROUPS)[number];

/** A global flag by its option name (`color` is `--no-color`, `input` is `--no-input`). */
export type GlobalFlag = keyof GlobalOptions;

/**
 * Wraps a run function as a commander action: the function may return an exit code (3 for a
 * partial bulk run); errors propagate to the one printer in main().
 */
export function action<A extends unknown[]>(ctx: Context, fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const code = await fn(...args);
    if (typeof code === "number") ctx.exitCode = code;
  };
}

/**
 * Collects a repeatable option's values. Given as the option's parser with no default value,
 * so help does not print "(default: [])" and a required one is really required.
 */
export function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `Examples:` block for a command's own help. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}
