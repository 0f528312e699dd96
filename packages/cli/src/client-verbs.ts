import type { Command } from 'commander';
import { addAuditVerb } from './commands/audit.ts';
import { addAuthVerbs } from './commands/auth.ts';
import { addCancelVerbs } from './commands/cancel.ts';
import { addCompletionVerb } from './commands/completion.ts';
import { addJobControlVerbs } from './commands/job-control.ts';
import { addJobsVerb } from './commands/jobs.ts';
import { addLogsVerb } from './commands/logs.ts';
import { addNodeAdminVerbs } from './commands/node-admin.ts';
import { addNodesVerb } from './commands/nodes.ts';
import { addRunVerb } from './commands/run.ts';
import { addSchedulesVerb } from './commands/schedules.ts';
import { addScriptsVerbs } from './commands/scripts.ts';
import { addSearchVerb } from './commands/search.ts';
import { addShellVerb } from './commands/shell.ts';
import { addEnrollTokenVerbs, addTokenVerbs } from './commands/tokens.ts';
import { addUserVerbs } from './commands/users.ts';
import { addVersionVerb } from './commands/version.ts';
import { addWebhooksVerb } from './commands/webhooks.ts';
import { processTerminal, type Terminal } from './terminal.ts';

/** The operator's verbs: they talk to a master over its HTTP API and live hub only. */
export function addClientVerbs(program: Command, terminal: Terminal = processTerminal()): void {
  addAuthVerbs(program, terminal);
  addNodeAdminVerbs(addNodesVerb(program, terminal), terminal);
  addRunVerb(program, terminal);
  addShellVerb(program, terminal);
  const jobs = addJobsVerb(program, terminal);
  addCancelVerbs(program, jobs, terminal);
  addJobControlVerbs(jobs, terminal);
  addLogsVerb(program, terminal);
  addSearchVerb(program, terminal);
  addScriptsVerbs(program, terminal);
  addSchedulesVerb(program, terminal);
  addWebhooksVerb(program, terminal);
  addTokenVerbs(program, terminal);
  addEnrollTokenVerbs(program, terminal);
  addUserVerbs(program, terminal);
  addAuditVerb(program, terminal);
  addCompletionVerb(program, terminal);
  addVersionVerb(program, terminal);
}
