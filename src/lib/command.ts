import type { Command } from "commander";
import type { Context } from "../context.js";

/**
 * A top-level command: where it appears in `automna --help`, one example for the overview, and
 * the builder that declares its flags and wires its action to a run function.
 */
export interface CommandModule {
  name: string;
  group: CommandGroup;
  /** One example invocation shown in the root help. */
  example: string;
  register(program: Command, ctx: Context): void;
}

export const COMMAND_GROUPS = ["Fleet", "Access", "Migration", "Cost", "State", "Setup"] as const;
export type CommandGroup = (typeof COMMAND_GROUPS)[number];

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

/** `Examples:` block for a command's own help. */
/**
 * Collects a repeatable option's values. Given as the option's parser with no default value,
 * so help does not print "(default: [])" and a required one is really required.
 */
export function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}
