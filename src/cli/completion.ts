/**
 * Shell completion. `mreg completion bash|zsh|fish` prints a small script that asks the CLI
 * itself what may come next (`mreg __complete <words…>`, the last word being the one under
 * the cursor), as cobra-based CLIs (gh, kubectl) do: the command table stays the one truth,
 * and a script saved once keeps working after an upgrade. Where the CLI has nothing to offer
 * (a file, a model name) the shell falls back to file names.
 */
import { GLOBAL_OPTIONS, type Command } from "./command";

export const SHELLS = ["bash", "zsh", "fish"] as const;

const BASH = `# bash completion for mreg.
#   source <(mreg completion bash)            # this shell
#   mreg completion bash > ~/.local/share/bash-completion/completions/mreg   # every shell
_mreg() {
  local IFS=$'\\n'
  COMPREPLY=( $(mreg __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) )
}
complete -o default -F _mreg mreg
`;

const ZSH = `#compdef mreg
# zsh completion for mreg.
#   source <(mreg completion zsh)             # this shell, after compinit
#   mreg completion zsh > "\${fpath[1]}/_mreg"  # every shell
_mreg() {
  local -a candidates
  candidates=("\${(@f)$(mreg __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ -n "\${candidates[1]}" ]]; then
    compadd -- "\${candidates[@]}"
  else
    _files
  fi
}
if [[ "\${funcstack[1]}" = "_mreg" ]]; then _mreg "$@"; else compdef _mreg mreg; fi
`;

const FISH = `# fish completion for mreg.
#   mreg completion fish > ~/.config/fish/completions/mreg.fish
function __mreg_complete
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    set -l candidates (mreg __complete $words 2>/dev/null)
    if test (count $candidates) -gt 0
        printf '%s\\n' $candidates
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c mreg -f -a '(__mreg_complete)'
`;

export function completionScript(shell: (typeof SHELLS)[number]): string {
  return shell === "bash" ? BASH : shell === "zsh" ? ZSH : FISH;
}

/** What may stand in place of the last word, given the words before it. */
export function complete(words: string[], commands: Command[]): string[] {
  const prior = words.slice(0, -1);
  const current = words.at(-1) ?? "";
  const names = commands.map((c) => c.name.split(" "));
  const typed: string[] = [];
  let command: Command | undefined;
  let expectsValue = false;
  let positionals = 0;
  for (const w of prior) {
    if (expectsValue) {
      expectsValue = false;
      continue;
    }
    if (w.startsWith("-")) {
      expectsValue = takesValue(w, command) && !w.includes("=");
      continue;
    }
    const next = [...typed, w];
    if (!command && names.some((n) => next.every((part, i) => n[i] === part))) {
      typed.push(w);
      command = commands.find((c) => c.name === typed.join(" "));
      continue;
    }
    positionals++;
  }
  if (expectsValue) return [];
  if (current.startsWith("-")) {
    const options = { ...GLOBAL_OPTIONS, ...(command?.options ?? {}) };
    return Object.keys(options)
      .map((o) => `--${o}`)
      .filter((o) => o.startsWith(current))
      .sort();
  }
  if (command) {
    if (command.name === "completion" && positionals === 0) return SHELLS.filter((s) => s.startsWith(current));
    // A subcommand may still follow a word that is a command on its own (`token` / `token ls`).
    if (positionals > 0) return [];
  }
  const following = new Set<string>();
  for (const n of names) {
    if (n.length > typed.length && typed.every((part, i) => n[i] === part) && n[typed.length]!.startsWith(current))
      following.add(n[typed.length]!);
  }
  return [...following].sort();
}

function takesValue(option: string, command: Command | undefined): boolean {
  const name = option.replace(/^--?/, "");
  const options: Record<string, { type: string; short?: string }> = { ...GLOBAL_OPTIONS, ...(command?.options ?? {}) };
  const spec = options[name] ?? Object.values(options).find((o) => o.short === name);
  return spec?.type === "string";
}
