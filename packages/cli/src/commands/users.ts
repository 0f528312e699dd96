import { roles, userAccountDtoSchema, type UserAccountDto, type UserUpdate } from '@edgestelle/protocol';
import { Argument, Option, type Command } from 'commander';
import { z } from 'zod';
import type { ApiClient } from '../api-client.ts';
import { CliError, CliErrorCode } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { formatTable, formatTime } from '../format.ts';
import { readPassword } from '../password-prompt.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { examples } from './help.ts';

const userListSchema = z.object({ items: z.array(userAccountDtoSchema) });
const roleOption = () => new Option('--role <role>', 'viewer, operator or admin').choices(roles);

/** Users are addressed by name on the command line; the API wants the id. */
async function findUser(api: ApiClient, username: string): Promise<UserAccountDto> {
  const { items } = await api.get('/api/v1/users', userListSchema);
  const user = items.find((u) => u.username === username);
  if (user === undefined) {
    throw new CliError(CliErrorCode.notFound, `no user named ${username} (edgestelle users list shows them)`);
  }
  return user;
}

function userPath(user: UserAccountDto): string {
  return `/api/v1/users/${encodeURIComponent(user.userId)}`;
}

/** Every user change is one PATCH; the master refuses to demote or disable the last admin (exit 65). */
async function updateUser(terminal: Terminal, username: string, update: UserUpdate, done: string): Promise<void> {
  const { api } = await connect(terminal.env);
  const user = await findUser(api, username);
  await api.patch(userPath(user), userAccountDtoSchema, update);
  terminal.stderr.write(`${username} ${done}.\n`);
}

export function addUserVerbs(program: Command, terminal: Terminal): void {
  const users = program
    .command('users')
    .description('user accounts of the console and the API (admin)')
    .addHelpText(
      'after',
      examples(
        'edgestelle users list',
        'edgestelle users create alice --role operator',
        'printf %s "$PASS" | edgestelle users create ci --role viewer --password-stdin',
        'edgestelle users set-role alice admin',
        'edgestelle users disable bob',
      ),
    );
  users
    .command('list')
    .description('every user with role, status and last login')
    .option('--json', 'print the API’s UserAccountDto list as JSON')
    .addHelpText('after', examples('edgestelle users list', 'edgestelle users list --json | jq -r ".[].username"'))
    .action(async (flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const { items } = await api.get('/api/v1/users', userListSchema);
      if (flags.json === true) printJson(terminal, items);
      else terminal.stdout.write(`${formatUsers(items)}\n`);
    });
  users
    .command('create')
    .description('create a user; the password is asked for (no echo) or read from stdin')
    .argument('<username>', 'letters, digits and . _ @ -')
    .addOption(roleOption().makeOptionMandatory())
    .option('--password-stdin', 'read the password from stdin instead of prompting')
    .option('--json', 'print the API’s UserAccountDto as JSON')
    .addHelpText(
      'after',
      examples(
        'edgestelle users create alice --role operator',
        'printf %s "$PASS" | edgestelle users create ci --role viewer --password-stdin',
      ),
    )
    .action(async (username: string, flags: { role: string; passwordStdin?: boolean; json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const password = await readPassword(
        terminal,
        flags.passwordStdin === true,
        `Password for the new user ${username} (10 characters or more): `,
        'use --password-stdin',
      );
      const user = await api.post('/api/v1/users', userAccountDtoSchema, { username, password, role: flags.role });
      if (flags.json === true) printJson(terminal, user);
      else terminal.stderr.write(`Created ${user.username} (${user.role}), id ${user.userId}.\n`);
    });
  users
    .command('disable')
    .description('stop a user signing in; their sessions and API tokens stop working at once')
    .argument('<username>')
    .addHelpText('after', examples('edgestelle users disable bob'))
    .action((username: string) => updateUser(terminal, username, { disabled: true }, 'is disabled'));
  users
    .command('enable')
    .description('let a disabled user sign in again (their old sessions stay ended)')
    .argument('<username>')
    .addHelpText('after', examples('edgestelle users enable bob'))
    .action((username: string) => updateUser(terminal, username, { disabled: false }, 'is enabled'));
  users
    .command('set-role')
    .description('change a user’s role; their API tokens are capped by it at once')
    .argument('<username>')
    .addArgument(new Argument('<role>', 'viewer, operator or admin').choices(roles))
    .addHelpText('after', examples('edgestelle users set-role alice admin', 'edgestelle users set-role bob viewer'))
    .action((username: string, role: (typeof roles)[number]) =>
      updateUser(terminal, username, { role }, `is now ${role}`),
    );
  users
    .command('reset-password')
    .description('set another user’s password; their sessions end (your own: change it in the console)')
    .argument('<username>')
    .option('--password-stdin', 'read the new password from stdin instead of prompting')
    .addHelpText(
      'after',
      examples(
        'edgestelle users reset-password bob',
        'printf %s "$NEW" | edgestelle users reset-password ci --password-stdin',
      ),
    )
    .action(async (username: string, flags: { passwordStdin?: boolean }) => {
      const { api } = await connect(terminal.env);
      const user = await findUser(api, username);
      const password = await readPassword(
        terminal,
        flags.passwordStdin === true,
        `New password for ${username} (10 characters or more): `,
        'use --password-stdin',
      );
      await api.send('POST', `${userPath(user)}/password`, { password });
      terminal.stderr.write(`Password of ${username} reset; their sessions ended.\n`);
    });
}

export function formatUsers(items: readonly UserAccountDto[]): string {
  if (items.length === 0) return 'No users.';
  return formatTable(
    ['USER', 'ROLE', 'STATUS', 'CREATED', 'LAST LOGIN'],
    [...items]
      .sort((a, b) => a.username.localeCompare(b.username))
      .map((user) => [
        user.username,
        user.role,
        user.disabledAt === null ? 'enabled' : `disabled ${formatTime(user.disabledAt)}`,
        formatTime(user.createdAt),
        formatTime(user.lastLoginAt),
      ]),
  );
}
