// `forkpool completion bash|zsh|fish`: completion scripts written from the command tree itself
// (cli/src/program.ts), so that a new command or option completes without anyone editing a script.
import type { Command, Option } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What a flag's value is completed with: folders, files, or nothing (a URL, a number, a time). */
type ValueKind = 'dir' | 'file' | 'none';

interface Flag {
  readonly long: string;
  readonly description: string;
  /** undefined for a flag that takes no value */
  readonly value: ValueKind | undefined;
}

/** One command of the tree, as completion sees it. */
interface Node {
  /** `/failed/retry`; the program itself is `` */
  readonly path: string;
  readonly name: string;
  readonly description: string;
  readonly subcommands: readonly Node[];
  /** its own flags and the program's (global ones) */
  readonly flags: readonly Flag[];
  /** words its first operand can be (the shell of `completion`, the command of `help`) */
  readonly choices: readonly string[];
  /** whether an operand is a file (`<jobpool.yaml>`) */
  readonly files: boolean;
}

function flagOf(option: Option): Flag | undefined {
  if (option.long === undefined) return undefined;
  const takes = option.required || option.optional;
  const value: ValueKind | undefined = !takes ? undefined : /<dir>/.test(option.flags) ? 'dir' : /<file>/.test(option.flags) ? 'file' : 'none';
  return { long: option.long, description: option.description, value };
}

function tree(program: Command): Node {
  const help: Flag = { long: '--help', description: 'this help', value: undefined };
  const globals = program.options.flatMap((o) => flagOf(o) ?? []).filter((f) => f.long !== '--version');
  const node = (cmd: Command, path: string): Node => {
    const subcommands = cmd.commands.map((sub) => node(sub, `${path}/${sub.name()}`));
    const own = cmd === program ? program.options.flatMap((o) => flagOf(o) ?? []) : [...cmd.options.flatMap((o) => flagOf(o) ?? []), ...globals];
    const first = cmd.registeredArguments[0];
    return {
      path,
      name: cmd.name(),
      description: cmd.description(),
      subcommands,
      flags: [...own, help],
      choices: first?.argChoices ?? [],
      files: cmd.registeredArguments.some((a) => a.name().endsWith('.yaml')),
    };
  };
  const root = node(program, '');
  const helpNode: Node = {
    path: '/help', name: 'help', description: 'the help of a command', subcommands: [], flags: [help],
    choices: root.subcommands.map((s) => s.name), files: false,
  };
  return { ...root, subcommands: [...root.subcommands, helpNode] };
}

function all(node: Node): Node[] {
  return [node, ...node.subcommands.flatMap(all)];
}

const words = (list: readonly string[]): string => list.join(' ');
/** A string in single quotes for bash, zsh and fish alike. */
const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

function valueFlags(nodes: readonly Node[], kind: ValueKind): string[] {
  return [...new Set(nodes.flatMap((n) => n.flags.filter((f) => f.value === kind).map((f) => f.long)))];
}

function bash(root: Node): string {
  const nodes = all(root);
  const branches = nodes.map((n) => {
    const candidates = [...n.subcommands.map((s) => s.name), ...n.choices];
    return `    ${quote(n.path)}) subcommands=${quote(words(candidates))}; flags=${quote(words(n.flags.map((f) => f.long)))}; files=${n.files ? 1 : ''} ;;`;
  });
  const paths = nodes.filter((n) => n.path !== '').map((n) => quote(n.path));
  return `# forkpool completion for bash: source <(forkpool completion bash)
_forkpool() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmdpath= i subcommands= flags= files=
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "$cmdpath/\${COMP_WORDS[i]}" in
      ${paths.join('|')}) cmdpath="$cmdpath/\${COMP_WORDS[i]}" ;;
    esac
  done
  case "$prev" in
    ${valueFlags(nodes, 'dir').join('|') || '--no-such-flag'}) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    ${valueFlags(nodes, 'file').join('|') || '--no-such-flag'}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    ${valueFlags(nodes, 'none').join('|') || '--no-such-flag'}) COMPREPLY=(); return ;;
  esac
  case "$cmdpath" in
${branches.join('\n')}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
    if [[ -n $files ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi
  fi
}
complete -o bashdefault -o default -F _forkpool forkpool
`;
}

function zsh(root: Node): string {
  const nodes = all(root);
  const branches = nodes.map((n) => {
    const candidates = [...n.subcommands.map((s) => s.name), ...n.choices];
    return `    (${quote(n.path)}) subcommands=(${candidates.map(quote).join(' ')}); flags=(${n.flags.map((f) => quote(f.long)).join(' ')}); files=${n.files ? 1 : ''} ;;`;
  });
  const paths = nodes.filter((n) => n.path !== '').map((n) => quote(n.path));
  return `#compdef forkpool
# forkpool completion for zsh: source <(forkpool completion zsh), after compinit
_forkpool() {
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]} cmdpath= i files=
  local -a subcommands flags
  for ((i = 2; i < CURRENT; i++)); do
    case "$cmdpath/\${words[i]}" in
      (${paths.join('|')}) cmdpath="$cmdpath/\${words[i]}" ;;
    esac
  done
  case "$prev" in
    (${valueFlags(nodes, 'dir').join('|') || '--no-such-flag'}) _files -/; return ;;
    (${valueFlags(nodes, 'file').join('|') || '--no-such-flag'}) _files; return ;;
    (${valueFlags(nodes, 'none').join('|') || '--no-such-flag'}) return ;;
  esac
  case "$cmdpath" in
${branches.join('\n')}
  esac
  if [[ $cur == -* ]]; then
    compadd -- $flags
  else
    compadd -- $subcommands
    if [[ -n $files ]]; then _files; fi
  fi
}
compdef _forkpool forkpool
`;
}

function fish(root: Node): string {
  const nodes = all(root);
  // The command path as in bash and zsh: the words that name a command, whatever values the options took.
  const lines = [
    '# forkpool completion for fish: forkpool completion fish > ~/.config/fish/completions/forkpool.fish',
    'function __forkpool_path',
    '  set -l cmdpath forkpool',
    '  for word in (commandline -opc)[2..-1]',
    `    if contains -- "$cmdpath/$word" ${nodes.filter((n) => n.path !== '').map((n) => quote(`forkpool${n.path}`)).join(' ')}`,
    '      set cmdpath "$cmdpath/$word"',
    '    end',
    '  end',
    '  echo $cmdpath',
    'end',
    'complete -c forkpool -f',
  ];
  for (const n of nodes) {
    const condition = quote(`test (__forkpool_path) = forkpool${n.path}`);
    for (const s of n.subcommands) lines.push(`complete -c forkpool -n ${condition} -a ${s.name} -d ${quote(s.description)}`);
    if (n.choices.length > 0) lines.push(`complete -c forkpool -n ${condition} -a ${quote(words(n.choices))}`);
    if (n.files) lines.push(`complete -c forkpool -n ${condition} -F`);
    for (const f of n.flags) {
      const value = f.value === 'dir' ? ' -x -a "(__fish_complete_directories)"' : f.value === 'file' ? ' -r -F' : f.value === 'none' ? ' -x' : '';
      lines.push(`complete -c forkpool -n ${condition} -l ${f.long.slice(2)}${value} -d ${quote(f.description)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The completion script for `shell`, from the commands and options of `program`. */
export function completionScript(program: Command, shell: Shell): string {
  const root = tree(program);
  return shell === 'bash' ? bash(root) : shell === 'zsh' ? zsh(root) : fish(root);
}
