import type { Command } from 'commander';
import { addAuthVerbs } from './commands/auth.ts';
import { addCompletionVerb } from './commands/completion.ts';
import { addJobsVerb } from './commands/jobs.ts';
import { addLogsVerb } from './commands/logs.ts';
import { addNodesVerb } from './commands/nodes.ts';
import { addRunVerb } from './commands/run.ts';
import { addScriptsVerbs } from './commands/scripts.ts';
import { addSearchVerb } from './commands/search.ts';
import { addShellVerb } from './commands/shell.ts';
import { addEnrollTokenVerbs, addTokenVerbs } from './commands/tokens.ts';
import { processTerminal, type Terminal } from './terminal.ts';

/** The operator's verbs: they talk to a master over its HTTP API and live hub only. */
export function addClientVerbs(program: Command, terminal: Terminal = processTerminal()): void {
  addAuthVerbs(program, terminal);
  addNodesVerb(program, terminal);
  addRunVerb(program, terminal);
  addShellVerb(program, terminal);
  addJobsVerb(program, terminal);
  addLogsVerb(program, terminal);
  addSearchVerb(program, terminal);
  addScriptsVerbs(program, terminal);
  addTokenVerbs(program, terminal);
  addEnrollTokenVerbs(program, terminal);
  addCompletionVerb(program, terminal);
}
