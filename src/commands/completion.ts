import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { UsageError } from "../lib/errors.js";
import { loadCommand } from "./index.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = (typeof SHELLS)[number];

interface Node {
  path: string[];
  subcommands: string[];
  flags: string[];
}

/** Every command path with its subcommands and flags (global flags included everywhere). */
export function commandTree(program: Command): Node[] {
  const globals = program.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f));
  const nodes: Node[] = [];
  const walk = (cmd: Command, path: string[]): void => {
    const own = cmd === program ? [] : cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f));
    nodes.push({ path, subcommands: cmd.commands.map((c) => c.name()), flags: [...new Set([...own, ...globals, "--help"])] });
    for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  return nodes;
}

function bash(nodes: Node[]): string {
  const cases = nodes
    .map((n) => `    "${n.path.join(" ")}") words="${[...n.subcommands, ...n.flags].join(" ")}" ;;`)
    .join("\n");
  return `# automna bash completion: eval "$(automna completion bash)"
_automna() {
  local cur path="" w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path:+$path }$w" in
${nodes.filter((n) => n.path.length > 0).map((n) => `      "${n.path.join(" ")}") path="${n.path.join(" ")}" ;;`).join("\n")}
    esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _automna automna
`;
}

function zsh(nodes: Node[]): string {
  return `#compdef automna
# automna zsh completion: eval "$(automna completion zsh)"
_automna() {
  local path="" w i
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path:+$path }$w" in
${nodes.filter((n) => n.path.length > 0).map((n) => `      "${n.path.join(" ")}") path="${n.path.join(" ")}" ;;`).join("\n")}
    esac
  done
  local -a candidates
  case "$path" in
${nodes.map((n) => `    "${n.path.join(" ")}") candidates=(${[...n.subcommands, ...n.flags].join(" ")}) ;;`).join("\n")}
  esac
  compadd -- $candidates
}
compdef _automna automna
`;
}

function fish(nodes: Node[]): string {
  const lines = ["# automna fish completion: automna completion fish | source", "complete -c automna -f"];
  for (const n of nodes) {
    const cond = n.path.length === 0 ? "__fish_use_subcommand" : `__fish_seen_subcommand_from ${n.path[n.path.length - 1]}`;
    for (const sub of n.subcommands) lines.push(`complete -c automna -n '${cond}' -a ${sub}`);
    for (const flag of n.flags.filter((f) => f.startsWith("--"))) lines.push(`complete -c automna -n '${cond}' -l ${flag.slice(2)}`);
  }
  return `${lines.join("\n")}\n`;
}

export function completionScript(program: Command, shell: string): string {
  if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`unknown shell "${shell}"`, { hint: `use one of: ${SHELLS.join(", ")}` });
  const nodes = commandTree(program);
  const gen: Record<Shell, (n: Node[]) => string> = { bash, zsh, fish };
  return gen[shell as Shell](nodes);
}

export const completionCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .argument("<shell>", SHELLS.join(", "))
      .addHelpText("after", examples('echo \'eval "$(automna completion bash)"\' >> ~/.bashrc', "automna completion fish > ~/.config/fish/completions/automna.fish"))
      .action(action(ctx, async (shell: string) => {
        // Every command's flags go into the script: load them all.
        const program = command.parent!;
        await Promise.all(program.commands.map((c) => loadCommand(c, ctx)));
        ctx.io.write(completionScript(program, shell));
      }));
  },
};
