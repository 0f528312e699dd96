import { hostname } from 'node:os';
import { ExitCode, apiTokenCreatedSchema, sessionDtoSchema, type SessionDto } from '@edgestelle/protocol';
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { CliError, CliErrorCode, usageError } from '../cli-error.ts';
import { configDir, configPath, readConfig, removeConfig, writeConfig } from '../config-store.ts';
import { connect } from '../credentials.ts';
import { parseMasterUrl } from '../parse-args.ts';
import { readPassword } from '../password-prompt.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { examples } from './help.ts';

/** The token `login --user` makes lives this long; a lost laptop's token dies on its own. */
const LOGIN_TOKEN_TTL_SEC = 30 * 86_400;
const SESSION_COOKIE = 'edgestelle_session';

interface LoginFlags {
  url?: string;
  user: string;
  passwordStdin?: boolean;
  token?: string;
}

export function addAuthVerbs(program: Command, terminal: Terminal): void {
  program
    .command('login')
    .description('log in to a master and save its URL and an API token (0600) for the other verbs')
    .option('--url <url>', 'the master, e.g. http://127.0.0.1:8080 (default: EDGESTELLE_URL or the saved one)')
    .option('--user <name>', 'account name', 'admin')
    .option('--password-stdin', 'read the password from stdin instead of prompting')
    .option('--token <token>', 'save an existing API token instead of logging in with a password')
    .addHelpText(
      'after',
      examples(
        'edgestelle login --url http://127.0.0.1:8080            # prompts for the password of admin',
        'edgestelle login --url https://ops.example --user alice',
        'printf %s "$PASS" | edgestelle login --url URL --user ci --password-stdin',
        'edgestelle login --url URL --token "$EDGESTELLE_TOKEN"',
      ),
    )
    .action(async (flags: LoginFlags) => {
      process.exitCode = await login(terminal, flags);
    });

  program
    .command('logout')
    .description('revoke the token login made and forget the saved master')
    .addHelpText('after', examples('edgestelle logout'))
    .action(async () => {
      process.exitCode = await logout(terminal);
    });

  program
    .command('whoami')
    .description('show the account and master the CLI uses')
    .option('--json', 'print the session as JSON (the API’s SessionDto)')
    .addHelpText('after', examples('edgestelle whoami', 'EDGESTELLE_TOKEN=… edgestelle whoami --json'))
    .action(async (flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const session = await api.get('/api/v1/auth/me', sessionDtoSchema);
      if (flags.json === true) printJson(terminal, session);
      else terminal.stdout.write(`${describeSession(session)} at ${api.baseUrl}\n`);
    });
}

function describeSession(session: SessionDto): string {
  return `${session.user.username} (${session.user.role})`;
}

async function login(terminal: Terminal, flags: LoginFlags): Promise<number> {
  const path = configPath(terminal.env);
  const urlText = flags.url ?? terminal.env.EDGESTELLE_URL ?? (await readConfig(path))?.url;
  if (urlText === undefined) throw usageError('which master? give --url URL, e.g. --url http://127.0.0.1:8080');
  if (flags.token !== undefined && flags.passwordStdin === true) {
    throw usageError('--token and --password-stdin are mutually exclusive: give one of them');
  }
  const api = new ApiClient(parseMasterUrl(urlText));

  if (flags.token !== undefined) {
    const session = await api.withAuth({ token: flags.token }).get('/api/v1/auth/me', sessionDtoSchema);
    await writeConfig(path, configDir(terminal.env), {
      url: api.baseUrl,
      token: flags.token,
      tokenId: null,
      username: session.user.username,
    });
    terminal.stderr.write(`Logged in to ${api.baseUrl} as ${describeSession(session)}; token saved in ${path}\n`);
    return ExitCode.ok;
  }

  const password = await readPassword(
    terminal,
    flags.passwordStdin === true,
    `Password for ${flags.user} at ${api.baseUrl}: `,
    'use --password-stdin or --token',
  );
  const response = await api.send('POST', '/api/v1/auth/login', { username: flags.user, password });
  const parsed = sessionDtoSchema.safeParse(await response.json());
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(';')[0] ?? '')
    .find((pair) => pair.startsWith(`${SESSION_COOKIE}=`));
  if (!parsed.success || parsed.data.csrfToken === null || cookie === undefined) {
    throw new CliError(CliErrorCode.badResponse, 'the master accepted the login but sent no usable session');
  }
  const session = parsed.data;
  // The CLI keeps a revocable API token, not the console session: sessions are for browsers
  // (cookies, CSRF), and a token shows up in `tokens list` where it can be revoked.
  const sessionApi = api.withAuth({ session: { cookie, csrfToken: session.csrfToken ?? '' } });
  const created = await sessionApi.post('/api/v1/tokens', apiTokenCreatedSchema, {
    name: `edgestelle CLI on ${hostname()}`.slice(0, 128),
    ttlSec: LOGIN_TOKEN_TTL_SEC,
  });
  await writeConfig(path, configDir(terminal.env), {
    url: api.baseUrl,
    token: created.token,
    tokenId: created.tokenId,
    username: session.user.username,
  });
  await sessionApi.send('POST', '/api/v1/auth/logout');
  terminal.stderr.write(
    `Logged in to ${api.baseUrl} as ${describeSession(session)}; token ${created.tokenId} saved in ${path} (valid 30 days)\n`,
  );
  return ExitCode.ok;
}

async function logout(terminal: Terminal): Promise<number> {
  const path = configPath(terminal.env);
  const saved = await readConfig(path);
  if (saved === null) {
    terminal.stderr.write(`Not logged in (no ${path}).\n`);
    return ExitCode.ok;
  }
  if (saved.tokenId !== null) {
    const api = new ApiClient(saved.url, { token: saved.token });
    try {
      await api.delete(`/api/v1/tokens/${saved.tokenId}`);
    } catch (err) {
      // An expired or already revoked token needs no revoking; anything else is worth a warning,
      // but the local copy goes either way so this machine holds no credential.
      if (!(err instanceof CliError) || err.code !== CliErrorCode.unauthenticated) {
        terminal.stderr.write(
          `edgestelle: could not revoke token ${saved.tokenId} (${err instanceof Error ? err.message : String(err)}); revoke it later with edgestelle tokens revoke ${saved.tokenId}\n`,
        );
      }
    }
  }
  await removeConfig(path);
  terminal.stderr.write(`Logged out of ${saved.url}.\n`);
  return ExitCode.ok;
}
