import { Command } from 'commander';
import { addClientVerbs } from './client-verbs.ts';
import { addDaemonVerbs } from './daemons.ts';
import { CLI_VERSION } from './version.ts';

/**
 * The `edgestelle` command. Client verbs talk to the master's HTTP API only; `master` and
 * `agent` start the daemons (see daemons.ts, the one file allowed to load them).
 */
export function buildProgram(): Command {
  const program = new Command('edgestelle')
    .description('Run scripts on a fleet of Linux edge nodes and watch every node’s output live.')
    .version(CLI_VERSION, '-V, --version')
    // `edgestelle -V` is the CLI's version; after a verb, `--version N` is a script version.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    // Commander's own errors (`error: unknown option`) in the one format of every other error;
    // its exit status becomes 64 in run-cli.ts. Verbs added below inherit this.
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'edgestelle: ')) });
  addDaemonVerbs(program);
  addClientVerbs(program);
  program.addHelpText(
    'after',
    `
Examples:
  edgestelle --help            this text
  edgestelle <verb> --help     help for one verb
  edgestelle version           this CLI's and the master's version
  edgestelle login --url https://MASTER && edgestelle run --all -- uptime

Install on another machine (Node.js >= 20):
  curl -fsSL --create-dirs https://MASTER/downloads/edgestelle -o ~/.local/bin/edgestelle && chmod +x ~/.local/bin/edgestelle`,
  );
  return program;
}
