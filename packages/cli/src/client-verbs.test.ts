import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './program.ts';

function verbs(command: Command, path: string[] = []): { path: string[]; command: Command }[] {
  return command.commands.flatMap((sub) => [
    { path: [...path, sub.name()], command: sub },
    ...verbs(sub, [...path, sub.name()]),
  ]);
}

/** Help text as `edgestelle <verb> --help` prints it, captured in-process. */
function helpOf(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (chunk) => (text += chunk), writeErr: (chunk) => (text += chunk) });
  command.outputHelp();
  return text;
}

describe('client verbs', () => {
  // master and agent hand --help to the daemons; `help` is commander's own.
  const clientVerbs = verbs(buildProgram()).filter(({ path }) => !['master', 'agent', 'help'].includes(path[0] ?? ''));

  it('registers every verb the API supports (issues 7, 19, 20 and 21)', () => {
    expect(clientVerbs.map(({ path }) => path.join(' '))).toEqual([
      'login',
      'logout',
      'whoami',
      'nodes',
      'nodes tag',
      'nodes untag',
      'nodes revoke',
      'nodes forget',
      'run',
      'shell',
      'jobs',
      'jobs cancel',
      'jobs pause',
      'jobs resume',
      'runs',
      'runs cancel',
      'logs',
      'search',
      'scripts',
      'scripts list',
      'scripts show',
      'scripts versions',
      'scripts push',
      'scripts pull',
      'schedules',
      'schedules create',
      'schedules list',
      'schedules show',
      'schedules pause',
      'schedules resume',
      'schedules run',
      'schedules delete',
      'webhooks',
      'webhooks create',
      'webhooks list',
      'webhooks delete',
      'webhooks deliveries',
      'tokens',
      'tokens create',
      'tokens list',
      'tokens revoke',
      'join-token',
      'join-token create',
      'join-token list',
      'join-token revoke',
      'users',
      'users list',
      'users create',
      'users disable',
      'users enable',
      'users set-role',
      'users reset-password',
      'audit',
      'completion',
      'version',
    ]);
  });

  it.each(clientVerbs)('ends the help of $path with examples', ({ command }) => {
    expect(helpOf(command)).toMatch(/\nExamples:\n {2}\$ .*edgestelle /);
  });
});
