import {
  apiTokenCreatedSchema,
  apiTokenDtoSchema,
  isValidNodeId,
  joinTokenCreatedSchema,
  joinTokenDtoSchema,
  roles,
  type ApiTokenDto,
  type JoinTokenCreate,
  type JoinTokenDto,
  type Role,
} from '@edgestelle/protocol';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { formatTable, formatTags, formatTime } from '../format.ts';
import { parseDurationMs, parseTags } from '../parse-args.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { collect, examples } from './help.ts';

const apiTokenListSchema = z.object({ items: z.array(apiTokenDtoSchema) });
const joinTokenListSchema = z.object({ items: z.array(joinTokenDtoSchema) });

function ttlSec(text: string): number {
  return Math.round(parseDurationMs(text, '--ttl') / 1000);
}

function tokenStatus(token: { revokedAt: number | null; expiresAt: number | null }, nowMs: number): string {
  if (token.revokedAt !== null) return 'revoked';
  if (token.expiresAt !== null && token.expiresAt <= nowMs) return 'expired';
  return 'active';
}

/** A secret is shown once: alone on stdout when piped (`T=$(edgestelle tokens create ci)`), with words on a terminal. */
function printSecret(terminal: Terminal, secret: string, what: string, hint: string): void {
  if (!terminal.stdoutIsTty) {
    terminal.stdout.write(`${secret}\n`);
    return;
  }
  terminal.stdout.write(`${what}. The secret is shown only now:\n\n  ${secret}\n\n${hint}`);
}

export function addTokenVerbs(program: Command, terminal: Terminal): void {
  const tokens = program
    .command('tokens')
    .description('API tokens for scripts and CI (your own; admins can revoke anyone’s)')
    .addHelpText(
      'after',
      examples(
        'edgestelle tokens create ci-deploy --ttl 90d',
        'edgestelle tokens list',
        'edgestelle tokens revoke 01jd3v7k2m9q8r5t4w6x8y0z2a',
      ),
    );
  tokens
    .command('create')
    .description('create an API token and print its secret once')
    .argument('<name>', 'what the token is for')
    .option('--ttl <duration>', 'lifetime, e.g. 30d or 12h (default: never expires)')
    .addOption(new Option('--role <role>', 'what it may do, at most your own role (default: your role)').choices(roles))
    .option('--json', 'print the API’s ApiTokenCreated as JSON')
    .addHelpText(
      'after',
      examples(
        'edgestelle tokens create ci --ttl 90d',
        'edgestelle tokens create prometheus --role viewer',
        'export EDGESTELLE_TOKEN=$(edgestelle tokens create ci --role operator)',
      ),
    )
    .action(async (name: string, flags: { ttl?: string; role?: Role; json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const created = await api.post('/api/v1/tokens', apiTokenCreatedSchema, {
        name,
        ttlSec: flags.ttl === undefined ? null : ttlSec(flags.ttl),
        ...(flags.role === undefined ? {} : { role: flags.role }),
      });
      if (flags.json === true) printJson(terminal, created);
      else
        printSecret(
          terminal,
          created.token,
          `Token ${created.tokenId} (${created.name}, ${created.role}) created, ${created.expiresAt === null ? 'no expiry' : `expires ${formatTime(created.expiresAt)}`}`,
          `Use it as EDGESTELLE_TOKEN=… or Authorization: Bearer …\n`,
        );
    });
  tokens
    .command('list')
    .description('list your API tokens')
    .option('--json', 'print the API’s ApiTokenDto list as JSON')
    .addHelpText('after', examples('edgestelle tokens list'))
    .action(async (flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const { items } = await api.get('/api/v1/tokens', apiTokenListSchema);
      if (flags.json === true) printJson(terminal, items);
      else terminal.stdout.write(`${formatApiTokens(items, Date.now())}\n`);
    });
  tokens
    .command('revoke')
    .description('revoke API tokens at once')
    .argument('<tokenId...>', 'ids from tokens list')
    .addHelpText('after', examples('edgestelle tokens revoke 01jd3v7k2m9q8r5t4w6x8y0z2a'))
    .action(async (tokenIds: string[]) => {
      const { api } = await connect(terminal.env);
      for (const tokenId of tokenIds) {
        await api.delete(`/api/v1/tokens/${encodeURIComponent(tokenId)}`);
        terminal.stderr.write(`Revoked ${tokenId}.\n`);
      }
    });
}

export function formatApiTokens(items: readonly ApiTokenDto[], nowMs: number): string {
  if (items.length === 0) return 'No API tokens.';
  return formatTable(
    ['TOKEN', 'NAME', 'ROLE', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'],
    items.map((token) => [
      token.tokenId,
      token.name,
      token.role,
      tokenStatus(token, nowMs),
      formatTime(token.createdAt),
      token.expiresAt === null ? 'never' : formatTime(token.expiresAt),
      formatTime(token.lastUsedAt),
    ]),
  );
}

interface EnrollCreateFlags {
  tag?: string[];
  ttl: string;
  uses: string;
  description?: string;
  node?: string;
  json?: boolean;
}

function parseUses(text: string): number | null {
  if (text === 'unlimited') return null;
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw usageError(`--uses: '${text}' is neither a count (1, 50) nor 'unlimited'`);
  return Number(text);
}

function parseNodeId(text: string | undefined): string | null {
  if (text === undefined) return null;
  if (!isValidNodeId(text)) throw usageError(`--node: '${text}' is not a node id (a-z, 0-9 and '-', up to 64)`);
  return text;
}

export function addEnrollTokenVerbs(program: Command, terminal: Terminal): void {
  const enroll = program
    .command('join-token')
    // The verb's first name: scripts written for it keep working (docs/CLI.md).
    .alias('enroll-token')
    .description('join tokens that let new nodes enroll (admin)')
    .addHelpText(
      'after',
      examples(
        'edgestelle join-token create --tag site=berlin --ttl 1h',
        'edgestelle join-token create --uses 50 --ttl 7d --description "rack 4"',
        'edgestelle join-token create --node edge-7 --ttl 1h',
        'edgestelle join-token list',
      ),
    );
  enroll
    .command('create')
    .description('create a join token; on the node run: edgestelle agent enroll --master URL --token TOKEN')
    .option('--tag <key=value>', 'tag every node that enrolls with it (repeatable)', collect)
    .option('--ttl <duration>', 'how long it works', '24h')
    .option('--uses <n>', "how many nodes may use it, or 'unlimited'", '1')
    .option('--description <text>', 'a note for join-token list')
    .option(
      '--node <nodeId>',
      'only this node id may enroll with it; the one way to enroll an enrolled node again without its key',
    )
    .option('--json', 'print the API’s JoinTokenCreated as JSON')
    .addHelpText(
      'after',
      examples(
        'edgestelle join-token create --tag site=berlin',
        'TOKEN=$(edgestelle join-token create --ttl 10m)',
        'edgestelle join-token create --node edge-7   # edge-7 lost its disk: enroll it again',
      ),
    )
    .action(async (flags: EnrollCreateFlags) => {
      const request: JoinTokenCreate = {
        ttlSec: ttlSec(flags.ttl),
        maxUses: parseUses(flags.uses),
        tags: parseTags(flags.tag ?? []),
        description: flags.description ?? '',
        nodeId: parseNodeId(flags.node),
      };
      const { api } = await connect(terminal.env);
      const created = await api.post('/api/v1/join-tokens', joinTokenCreatedSchema, request);
      if (flags.json === true) printJson(terminal, created);
      else
        printSecret(
          terminal,
          created.token,
          `Join token ${created.tokenId} created: ${created.nodeId === null ? (created.maxUses === null ? 'any number of new nodes' : `${created.maxUses} new node${created.maxUses === 1 ? '' : 's'}`) : `node ${created.nodeId} (new or enrolled), ${created.maxUses === null ? 'any number of times' : `${created.maxUses} time${created.maxUses === 1 ? '' : 's'}`}`} until ${formatTime(created.expiresAt)}`,
          created.nodeId === null
            ? `On the new node run:\n  edgestelle agent enroll --master ${api.baseUrl} --token ${created.token}\n`
            : `On node ${created.nodeId} run:\n  edgestelle agent enroll --master ${api.baseUrl} --token ${created.token} --node-id ${created.nodeId}\n`,
        );
    });
  enroll
    .command('list')
    .description('list join tokens')
    .option('--json', 'print the API’s JoinTokenDto list as JSON')
    .addHelpText('after', examples('edgestelle join-token list', 'edgestelle join-token list --json'))
    .action(async (flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const { items } = await api.get('/api/v1/join-tokens', joinTokenListSchema);
      if (flags.json === true) printJson(terminal, items);
      else terminal.stdout.write(`${formatJoinTokens(items, Date.now())}\n`);
    });
  enroll
    .command('revoke')
    .description('revoke join tokens at once')
    .argument('<tokenId...>', 'ids from join-token list')
    .addHelpText('after', examples('edgestelle join-token revoke 01jd3v7k2m9q8r5t4w6x8y0z2a'))
    .action(async (tokenIds: string[]) => {
      const { api } = await connect(terminal.env);
      for (const tokenId of tokenIds) {
        await api.delete(`/api/v1/join-tokens/${encodeURIComponent(tokenId)}`);
        terminal.stderr.write(`Revoked ${tokenId}.\n`);
      }
    });
}

export function formatJoinTokens(items: readonly JoinTokenDto[], nowMs: number): string {
  if (items.length === 0) return 'No join tokens.';
  return formatTable(
    ['TOKEN', 'STATUS', 'USES', 'EXPIRES', 'NODE', 'TAGS', 'DESCRIPTION'],
    items.map((token) => [
      token.tokenId,
      token.maxUses !== null && token.uses >= token.maxUses ? 'used up' : tokenStatus(token, nowMs),
      `${token.uses}/${token.maxUses ?? '∞'}`,
      formatTime(token.expiresAt),
      token.nodeId ?? 'new nodes',
      formatTags(token.tags),
      token.description,
    ]),
  );
}
