import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { UsageError } from "../lib/errors.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = (typeof SHELLS)[number];

/*
 * Each script hands the words before the cursor (and the one being typed) to `automna
 * __complete`, which answers for all three shells from one spec (src/cli/complete.ts): each
 * command's own flags, flag values, user ids from the state database, after any global flag.
 */

const BASH = `# automna bash completion: eval "$(automna completion bash)"
_automna() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  # bash splits --by label:plan and --flag=value at : and =; automna wants the words as typed.
  local line="\${COMP_LINE:0:COMP_POINT}"
  local -a words candidates
  read -r -a words <<< "$line"
  [[ "$line" == *[[:space:]] ]] && words+=("")
  local IFS=$'\\n'
  candidates=($(automna __complete "\${words[@]:1}" 2>/dev/null))
  # Candidates hold the whole word; bash replaces only its part after the last : or =.
  local typed="\${words[\${#words[@]}-1]}" i
  if [[ "$typed" != "$cur" && "$typed" == *"$cur" ]]; then
    local head="\${typed%"$cur"}"
    for i in "\${!candidates[@]}"; do candidates[i]="\${candidates[i]#"$head"}"; done
  fi
  COMPREPLY=("\${candidates[@]}")
  [[ \${#COMPREPLY[@]} -eq 1 && "\${COMPREPLY[0]}" == */ ]] && compopt -o nospace
  return 0
}
complete -F _automna automna
`;

const ZSH = `#compdef automna
# automna zsh completion: eval "$(automna completion zsh)" (after compinit)
_automna() {
  local -a candidates
  candidates=("\${(@f)$(automna __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  (( \${#candidates} )) || return 1
  local -a dirs plain
  dirs=(\${(M)candidates:#*/})
  plain=(\${candidates:#*/})
  (( \${#plain} )) && compadd -Q -- "\${plain[@]}"
  (( \${#dirs} )) && compadd -Q -S '' -- "\${dirs[@]}"
  return 0
}
compdef _automna automna
`;

const FISH = `# automna fish completion: automna completion fish | source
function __automna_complete
  set -l words (commandline -opc) (commandline -ct)
  automna __complete $words[2..-1] 2>/dev/null
end
complete -c automna -f -a '(__automna_complete)'
`;

export function completionScript(shell: string): string {
  if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`unknown shell "${shell}"`, { hint: `use one of: ${SHELLS.join(", ")}` });
  const scripts: Record<Shell, string> = { bash: BASH, zsh: ZSH, fish: FISH };
  return scripts[shell as Shell];
}

export const completionCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .argument("<shell>", SHELLS.join(", "))
      .addHelpText("after", `${examples(
        'echo \'eval "$(automna completion bash)"\' >> ~/.bashrc',
        'echo \'eval "$(automna completion zsh)"\' >> ~/.zshrc',
        "automna completion fish > ~/.config/fish/completions/automna.fish",
      )}
Completes commands and subcommands, each command's own flags (and the global ones it honours),
flag values (providers; regions and sizes of the provider on the line or in the profile; -o
formats; config keys and their choices; profiles; files) and user ids from the state database
of the profile on the line, also after global flags (automna --profile staging status al<TAB>).
User ids come from the embedded database only: with a state server, type them.
`)
      .action(action(ctx, async (shell: string) => {
        ctx.io.write(completionScript(shell));
      }));
  },
};
