import { Command, CommanderError, Help, type HelpConfiguration, type Option } from "commander";
import { COMMANDS, findCommand, isBuilt, loadCommand } from "./commands/index.js";
import type { Context, GlobalOptions } from "./context.js";
import { AutomnaError, CancelledError, ExitCode, isAbortError } from "./lib/errors.js";
import { COMMAND_GROUPS, type GlobalFlag } from "./lib/command.js";
import { redact } from "./lib/redact.js";
import { terminalText } from "./lib/terminal-text.js";

const GLOBAL_FLAGS = "Global flags:";
/** Global flags every command honours, so no manifest entry lists them. */
const OUTPUT_FLAGS: readonly GlobalFlag[] = ["quiet", "verbose", "debug", "color"];

/**
 * Help is a fixed 100 columns wide, so the build can pre-render every page. The root lists
 * commands by name (their usage needs their modules); a command's help ends with the global
 * flags it honours, from its manifest entry.
 */
const HELP: HelpConfiguration = {
  helpWidth: 100,
  showGlobalOptions: true,
  subcommandTerm(this: Help, cmd: Command): string {
    return cmd.parent?.parent ? Help.prototype.subcommandTerm.call(this, cmd) : cmd.name();
  },
  visibleGlobalOptions: honouredGlobals,
  formatItemList(this: Help, heading: string, items: string[], helper: Help): string[] {
    return Help.prototype.formatItemList.call(this, heading === "Global Options:" ? GLOBAL_FLAGS : heading, items, helper);
  },
};

/** The global flags a command's help lists: the output flags, and those its manifest entry names. */
function honouredGlobals(cmd: Command): Option[] {
  let top = cmd;
  while (top.parent?.parent) top = top.parent;
  const root = top.parent;
  if (!root) return [];
  const honoured = new Set<string>([...OUTPUT_FLAGS, ...(findCommand(top.name())?.globals ?? [])]);
  return root.options.filter((o) => o.helpGroupHeading === GLOBAL_FLAGS && honoured.has(o.attributeName()));
}

/**
 * Builds the program: global flags, every command of the manifest by name and summary (for the
 * root help and typo suggestions), grouped, and root help with one example per command. A
 * command's module loads when the command line dispatches to it.
 */
export function buildProgram(ctx: Context): Command {
  const captured: string[] = [];
  const program = new Command("automna")
    .description("Operate a fleet of always-on per-user AI agents on Hetzner Cloud, Fly.io and DigitalOcean.")
    .version(ctx.version, "-V, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .configureHelp(HELP)
    .optionsGroup(GLOBAL_FLAGS)
    .option("--json", "print one JSON document on stdout")
    .option("--profile <name>", "configuration profile (env AUTOMNA_PROFILE)")
    .option("--config <file>", "configuration file (env AUTOMNA_CONFIG)")
    .option("--state <path|url>", "state database or server (env AUTOMNA_STATE)")
    .option("-y, --yes", "answer yes to confirmations")
    .option("-q, --quiet", "print only results and errors")
    .option("-v, --verbose", "print more about what happens")
    .option("--debug", "print debugging detail, including HTTP traffic (tokens redacted)")
    .option("--no-color", "no colours (also NO_COLOR)")
    .option("--no-input", "never prompt; fail naming the flag instead")
    .showSuggestionAfterError(true)
    .helpCommand(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.write(s),
      writeErr: (s) => captured.push(s),
      outputError: () => undefined,
    });
  (program as CommandWithCapture).captured = captured;

  program.hook("preAction", () => applyGlobals(ctx, program.opts() as GlobalOptions));
  // main() builds the command the command line names before parsing, because commander settles
  // some option defaults (a lone --no-x flag's) as it dispatches; reaching any other is a bug.
  program.hook("preSubcommand", (_program, command) => {
    if (!isBuilt(command)) throw new Error(`command ${command.name()} was dispatched before it was loaded`);
  });

  // Each command inherits the program's settings: exit override, suggestions, output capture.
  for (const group of COMMAND_GROUPS) {
    program.commandsGroup(`${group}:`);
    for (const entry of COMMANDS.filter((c) => c.group === group)) program.command(entry.name).description(entry.summary);
  }
  program.addHelpText("after", () => {
    const width = Math.max(...COMMANDS.map((c) => c.name.length));
    const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  $ ${c.example}`);
    return `\nExamples:\n${lines.join("\n")}\n\nExit codes: 0 ok, 1 failed, 2 bad usage or input, 3 partial, 4 locked or conflict, 124 timed out (ssh --timeout), 130 cancelled, 141 output closed.\nRun "automna <command> --help" for a command's flags and examples.\n`;
  });
  return program;
}

type CommandWithCapture = Command & { captured: string[] };

export function applyGlobals(ctx: Context, opts: Partial<GlobalOptions>): void {
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  ctx.globals = { ...ctx.globals, ...defined };
  const g = ctx.globals;
  ctx.io.configure({ json: g.json, quiet: g.quiet, verbose: g.verbose || g.debug, debug: g.debug, color: g.color, input: g.input });
}

/**
 * Global output flags are read before commander parses, so even a parse error (unknown flag)
 * honours --json and --no-color.
 */
function prescanGlobals(argv: string[]): Partial<GlobalOptions> {
  const end = argv.indexOf("--");
  const head = end === -1 ? argv : argv.slice(0, end);
  const found: Partial<GlobalOptions> = {};
  if (head.includes("--json")) found.json = true;
  if (head.includes("--no-color")) found.color = false;
  if (head.includes("--debug")) found.debug = true;
  if (head.includes("--quiet") || head.includes("-q")) found.quiet = true;
  if (head.includes("--no-input")) found.input = false;
  const o = head.indexOf("-o");
  if (o !== -1 && head[o + 1] === "json") found.json = true;
  return found;
}

/**
 * The top-level command the command line names, read as commander reads it: the first operand
 * after the program's own options (and their values), or the word after `--`. Undefined when an
 * unknown option comes first (commander dispatches nothing then) or there is no operand.
 */
export function commandNamed(program: Command, argv: readonly string[]): string | undefined {
  const option = (flag: string): Option | undefined => program.options.find((o) => o.long === flag || o.short === flag);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return argv[i + 1];
    if (arg.length < 2 || !arg.startsWith("-")) return arg;
    const known = option(arg.includes("=") && arg.startsWith("--") ? arg.slice(0, arg.indexOf("=")) : arg);
    if (known) {
      if (known.required && !arg.includes("=")) i++;
      continue;
    }
    // A group of short flags (-qy): each a known flag without a value, or the last one with its value.
    if (/^-[^-]/.test(arg) && [...arg.slice(1)].every((c) => option(`-${c}`) !== undefined)) {
      if (option(`-${arg.at(-1)}`)!.required) i++;
      continue;
    }
    return undefined;
  }
  return undefined;
}

/** Turns commander's two-line messages into our one-line form. */
function commanderMessage(error: CommanderError): string {
  return error.message
    .replace(/^error:\s*/i, "")
    .replace(/\s*\n\s*\(Did you mean (.*)\?\)/, " (did you mean $1?)")
    .split("\n")[0]!
    .trim();
}

/** The one error printer: one line plus a hint, JSON document in --json mode, stack only with --debug. */
export function printError(ctx: Context, error: unknown): number {
  const io = ctx.io;
  // Nothing of a spinner or a board stays in front of the error (Ctrl-C, a failure mid-run).
  io.endLive();
  let err: AutomnaError;
  if (error instanceof AutomnaError) err = error;
  else if (isAbortError(error)) err = new CancelledError();
  else {
    const message = error instanceof Error ? error.message : String(error);
    err = new AutomnaError(`internal error: ${message}`, {
      code: "internal",
      hint: "this is a bug in automna; run again with --debug and report the output",
      cause: error,
    });
  }
  if (ctx.globals.json) io.json({ error: err.toJSON() });
  const c = io.colorErr;
  // Messages carry providers' and agents' words: no control sequences, not even colours.
  io.errorLine(`${c.red("Error:")} ${terminalText(err.message)}`);
  if (err.hint) io.errorLine(`${c.dim("Hint:")} ${terminalText(err.hint)}`);
  if (ctx.globals.debug) {
    const stack = (err.cause instanceof Error ? err.cause : err).stack;
    if (stack) io.errorLine(c.dim(redact(stack)));
  }
  return err.exitCode;
}

/**
 * How an aborted run ends: 141 when the output pipe closed, 130 for Ctrl-C; a command's own
 * cancellation message (one naming its operation) is kept.
 */
function cancellation(signal: AbortSignal, error?: unknown): CancelledError {
  const reason: unknown = signal.reason;
  const base = reason instanceof CancelledError ? reason : new CancelledError();
  if (!(error instanceof CancelledError) || error === base || error.message === "cancelled") return base;
  return new CancelledError(error.message, { code: base.code, exitCode: base.exitCode, hint: error.hint ?? base.hint });
}

/** Runs automna with the given arguments and returns the exit code. Only bin/ exits the process. */
export async function main(argv: string[], ctx: Context): Promise<number> {
  applyGlobals(ctx, prescanGlobals(argv));
  let program: CommandWithCapture | undefined;
  try {
    program = buildProgram(ctx) as CommandWithCapture;
    const named = program.commands.find((c) => c.name() === commandNamed(program!, argv));
    if (named) await loadCommand(named, ctx);
    await program.parseAsync(argv, { from: "user" });
    // A reader that went away during the last writes must count before the exit code does.
    await ctx.io.flush();
    if (ctx.signal.aborted && !ctx.abortIsStop) throw cancellation(ctx.signal);
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError && program) return handleCommanderError(ctx, program, error);
    if (ctx.signal.aborted && !(error instanceof AutomnaError && error.exitCode === ExitCode.LOCKED)) return printError(ctx, cancellation(ctx.signal, error));
    return printError(ctx, error);
  } finally {
    await ctx.dispose();
  }
}

function handleCommanderError(ctx: Context, program: CommandWithCapture, error: CommanderError): number {
  switch (error.code) {
    case "commander.helpDisplayed":
    case "commander.version":
      return ExitCode.OK;
    case "commander.help":
    case "commander.executeSubCommandAsync":
      // A command group run without a subcommand: its help, as a usage error.
      ctx.io.errorLine(program.captured.join("").trimEnd());
      return ExitCode.USAGE;
    default: {
      const hint = error.code === "commander.unknownCommand" ? 'run "automna --help" for the list of commands' : 'run the command with --help for its flags';
      return printError(ctx, new AutomnaError(commanderMessage(error), { code: "usage", exitCode: ExitCode.USAGE, hint }));
    }
  }
}
