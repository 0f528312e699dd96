import { Argument, type Command } from 'commander';
import { bashCompletion, completionSpec, zshCompletion } from '../completion.ts';
import type { Terminal } from '../terminal.ts';
import { examples } from './help.ts';

export function addCompletionVerb(program: Command, terminal: Terminal): void {
  program
    .command('completion')
    .description('print a shell completion script for bash or zsh')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
    .addHelpText(
      'after',
      examples(
        'source <(edgestelle completion bash)                     # now, in this shell',
        'edgestelle completion bash > /etc/bash_completion.d/edgestelle',
        'edgestelle completion zsh > "${fpath[1]}/_edgestelle"     # zsh, then restart it',
      ),
    )
    .action((shell: 'bash' | 'zsh') => {
      const spec = completionSpec(program);
      terminal.stdout.write(shell === 'bash' ? bashCompletion(spec) : zshCompletion(spec));
    });
}
