import type { Command } from 'commander';

/**
 * Shell completion scripts generated from the command tree itself, so a new verb or option
 * completes without anyone remembering to edit a script. Node ids after --node come from
 * `edgestelle nodes -q` at completion time, script names after --script and `scripts
 * show|pull` from `edgestelle scripts list -q`.
 */

export interface CompletionOption {
  flags: string[];
  description: string;
  takesValue: boolean;
  choices: string[];
}

export interface CompletionSpec {
  name: string;
  description: string;
  options: CompletionOption[];
  subcommands: CompletionSpec[];
}

export function completionSpec(command: Command): CompletionSpec {
  const options: CompletionOption[] = command.options.map((option) => ({
    flags: [option.short, option.long].filter((flag): flag is string => flag !== undefined),
    description: option.description,
    takesValue: option.required || option.optional,
    choices: option.argChoices ?? [],
  }));
  options.push({ flags: ['-h', '--help'], description: 'show help', takesValue: false, choices: [] });
  return {
    name: command.name(),
    description: command.description(),
    options,
    subcommands: command.commands.map(completionSpec),
  };
}

interface Level {
  path: string;
  spec: CompletionSpec;
}

function levels(spec: CompletionSpec, path = ''): Level[] {
  return [
    { path, spec },
    ...spec.subcommands.flatMap((sub) => levels(sub, path === '' ? sub.name : `${path} ${sub.name}`)),
  ];
}

/** Single-quoted for sh and zsh. */
function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

const NODE_FLAGS = ['--node', '-n'];
const SCRIPT_FLAGS = ['--script', '-s'];
/** Verbs whose argument is a library script's name, completed from the master. */
const SCRIPT_ARG_PATHS = ['scripts show', 'scripts pull'];
const DYNAMIC_FLAGS = [...NODE_FLAGS, ...SCRIPT_FLAGS];

export function bashCompletion(root: CompletionSpec): string {
  const all = levels(root);
  const paths = all.filter((level) => level.path !== '').map((level) => quote(level.path));
  const scripts = `$(${root.name} scripts list -q 2>/dev/null)`;
  const words = all.map(
    (level) =>
      `    ${quote(level.path)}) words=${quote(
        [...level.spec.subcommands.map((sub) => sub.name), ...level.spec.options.flatMap((o) => o.flags)].join(' '),
      )}${SCRIPT_ARG_PATHS.includes(level.path) ? `" ${scripts}"` : ''} ;;`,
  );
  const choices = all
    .flatMap((level) => level.spec.options)
    .filter((option) => option.choices.length > 0)
    .map(
      (option) =>
        `    ${option.flags.join('|')}) COMPREPLY=($(compgen -W ${quote(option.choices.join(' '))} -- "$cur")); return ;;`,
    );
  const valued = [
    ...new Set(
      all.flatMap((level) =>
        level.spec.options.filter((o) => o.takesValue && o.choices.length === 0).flatMap((o) => o.flags),
      ),
    ),
  ].filter((flag) => !DYNAMIC_FLAGS.includes(flag));
  return `# bash completion for ${root.name}; load it with: source <(${root.name} completion bash)
_${root.name}() {
  local cur prev cmdpath next w i words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmdpath=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    next="\${cmdpath:+$cmdpath }$w"
    case "$next" in
      ${paths.join('|')}) cmdpath="$next" ;;
    esac
  done
  case "$prev" in
    ${NODE_FLAGS.join('|')}) COMPREPLY=($(compgen -W "$(${root.name} nodes -q 2>/dev/null)" -- "$cur")); return ;;
    ${SCRIPT_FLAGS.join('|')}) COMPREPLY=($(compgen -W "${scripts}" -- "$cur")); return ;;
${choices.join('\n')}
    ${valued.length === 0 ? '--no-such-flag' : valued.join('|')}) return ;;
  esac
  case "$cmdpath" in
${words.join('\n')}
    *) words='' ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _${root.name} ${root.name}
`;
}

function describeEntry(name: string, description: string): string {
  return quote(`${name.replace(/:/g, '\\:')}:${description.replace(/\s+/g, ' ')}`);
}

export function zshCompletion(root: CompletionSpec): string {
  const all = levels(root);
  const paths = all.filter((level) => level.path !== '').map((level) => quote(level.path));
  const entries = all.map((level) => {
    const items = [
      ...level.spec.subcommands.map((sub) => describeEntry(sub.name, sub.description)),
      ...level.spec.options.flatMap((option) => option.flags.map((flag) => describeEntry(flag, option.description))),
    ];
    const scripts = SCRIPT_ARG_PATHS.includes(level.path)
      ? ` \${(f)"$(${root.name} scripts list -q 2>/dev/null)"}`
      : '';
    return `    ${quote(level.path)}) candidates=(${items.join(' ')}${scripts}) ;;`;
  });
  const choices = all
    .flatMap((level) => level.spec.options)
    .filter((option) => option.choices.length > 0)
    .map((option) => `    ${option.flags.join('|')}) compadd -- ${option.choices.map(quote).join(' ')}; return ;;`);
  const valued = [
    ...new Set(
      all.flatMap((level) =>
        level.spec.options.filter((o) => o.takesValue && o.choices.length === 0).flatMap((o) => o.flags),
      ),
    ),
  ].filter((flag) => !DYNAMIC_FLAGS.includes(flag));
  // `path` is zsh's PATH array: never use it as a variable name here.
  return `#compdef ${root.name}
# zsh completion for ${root.name}; load it with: source <(${root.name} completion zsh)  (after compinit)
_${root.name}() {
  local -a candidates
  local cmdpath="" next w i
  for ((i = 2; i < CURRENT; i++)); do
    w=\${words[i]}
    next="\${cmdpath:+$cmdpath }$w"
    case "$next" in
      ${paths.join('|')}) cmdpath="$next" ;;
    esac
  done
  case \${words[CURRENT-1]} in
    ${NODE_FLAGS.join('|')}) candidates=(\${(f)"$(${root.name} nodes -q 2>/dev/null)"}); compadd -a candidates; return ;;
    ${SCRIPT_FLAGS.join('|')}) candidates=(\${(f)"$(${root.name} scripts list -q 2>/dev/null)"}); compadd -a candidates; return ;;
${choices.join('\n')}
    ${valued.length === 0 ? '--no-such-flag' : valued.join('|')}) _files; return ;;
  esac
  case "$cmdpath" in
${entries.join('\n')}
    *) candidates=() ;;
  esac
  _describe -t commands '${root.name}' candidates
}
compdef _${root.name} ${root.name}
`;
}
