import { setTimeout as sleep } from 'node:timers/promises';
import { auditActions, auditPageSchema, type AuditEventDto } from '@edgestelle/protocol';
import type { Command } from 'commander';
import type { ApiClient, Query } from '../api-client.ts';
import { usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { formatTime } from '../format.ts';
import { parseTimeFlag } from '../parse-args.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { collect, examples } from './help.ts';

interface AuditFlags {
  actor?: string;
  action?: string[];
  target?: string;
  since?: string;
  until?: string;
  limit: string;
  follow?: boolean;
  json?: boolean;
}

/** How often --follow asks for new events. */
const FOLLOW_INTERVAL_MS = 1000;
/**
 * An event is stamped inside its transaction and may commit a moment after a later one: each
 * poll looks this far back and skips what it printed.
 */
const LATE_COMMIT_WINDOW_MS = 10_000;
/** Pages one poll reads at most (200 events each) before it prints what it has. */
const MAX_PAGES_PER_POLL = 20;

export function addAuditVerb(program: Command, terminal: Terminal): void {
  program
    .command('audit')
    .description('the audit log: logins, runs, cancels, enrollments, changes (admin); oldest first')
    .option('--actor <name>', 'only events by this user (node:<id> for enrollments, system for the master)')
    .option('--action <action>', `only these actions (repeatable or a,b): ${auditActions.join(', ')}`, collect)
    .option('--target <prefix>', 'only events on targets starting so: job:, node:edge-1, user:')
    .option('--since <time>', 'only events since: a time ago (30m, 2d) or a date (2026-11-24T10:00:00Z)')
    .option('--until <time>', 'only events before this (same forms as --since)')
    .option('--limit <n>', 'the newest this many events (1-200)', '50')
    .option('-f, --follow', 'then keep printing new events as they happen, until Ctrl-C')
    .option('--json', 'print the API’s AuditEventDto list as JSON; with --follow, one event a line')
    .addHelpText(
      'after',
      examples(
        'edgestelle audit',
        'edgestelle audit --actor alice --since 1d',
        'edgestelle audit --action job.create,job.cancel --target job: --limit 200',
        'edgestelle audit --action auth.login_failed --follow',
        'edgestelle audit --follow --json | jq -c "select(.action == \\"node.revoke\\")"',
      ),
    )
    .action(async (flags: AuditFlags) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
        throw usageError(`--limit: '${flags.limit}' is not 1-200`);
      }
      if (flags.follow === true && flags.until !== undefined)
        throw usageError('--follow and --until do not go together');
      const query = auditFilters(flags, Date.now());
      const { api } = await connect(terminal.env);
      const page = await api.get('/api/v1/audit', auditPageSchema, { ...query, limit });
      const first = [...page.items].reverse();
      if (flags.follow !== true) {
        if (flags.json === true) printJson(terminal, first);
        else terminal.stdout.write(first.length === 0 ? 'No audit events.\n' : first.map(formatAuditEvent).join(''));
        return;
      }
      const print = (event: AuditEventDto) =>
        terminal.stdout.write(flags.json === true ? `${JSON.stringify(event)}\n` : formatAuditEvent(event));
      first.forEach(print);
      await follow(api, query, first, print);
    });
}

/**
 * Polls for events newer than those shown, forever (Ctrl-C ends the process). What the window
 * already held at start counts as seen, shown or not: `--limit` showed only the newest of it,
 * and a later poll must not print the rest as if it were new.
 */
async function follow(
  api: ApiClient,
  query: Query,
  shown: readonly AuditEventDto[],
  print: (event: AuditEventDto) => void,
): Promise<never> {
  let newestAt = shown.at(-1)?.at ?? (typeof query.from === 'number' ? query.from : Date.now());
  const seen = new Map<string, number>(shown.map((e) => [e.eventId, e.at]));
  for (const event of await eventsSince(api, query, newestAt - LATE_COMMIT_WINDOW_MS))
    seen.set(event.eventId, event.at);
  for (;;) {
    await sleep(FOLLOW_INTERVAL_MS);
    const fresh = (await eventsSince(api, query, newestAt - LATE_COMMIT_WINDOW_MS)).filter((e) => !seen.has(e.eventId));
    fresh.sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
    for (const event of fresh) {
      seen.set(event.eventId, event.at);
      newestAt = Math.max(newestAt, event.at);
      print(event);
    }
    for (const [eventId, at] of seen) if (at < newestAt - LATE_COMMIT_WINDOW_MS) seen.delete(eventId);
  }
}

async function eventsSince(api: ApiClient, query: Query, from: number): Promise<AuditEventDto[]> {
  const events: AuditEventDto[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < MAX_PAGES_PER_POLL; pages += 1) {
    const page = await api.get('/api/v1/audit', auditPageSchema, { ...query, from, limit: 200, cursor });
    events.push(...page.items);
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  return events;
}

export function auditFilters(flags: AuditFlags, nowMs: number): Query {
  const actions = (flags.action ?? []).flatMap((a) => a.split(',')).filter((a) => a !== '');
  for (const action of actions) {
    if (!(auditActions as readonly string[]).includes(action)) {
      throw usageError(`--action: '${action}' is not an audit action (${auditActions.join(', ')})`);
    }
  }
  return {
    actor: flags.actor,
    action: actions.length === 0 ? undefined : actions.join(','),
    target: flags.target,
    from: flags.since === undefined ? undefined : parseTimeFlag(flags.since, '--since', nowMs),
    to: flags.until === undefined ? undefined : parseTimeFlag(flags.until, '--until', nowMs),
  };
}

/** `2026-12-07T23:50:01Z  alice  job.create  job:01…  nodeCount=2  (127.0.0.1)`, one line. */
export function formatAuditEvent(event: AuditEventDto): string {
  const details = Object.entries(event.details)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(' ');
  return `${[
    formatTime(event.at),
    event.actor,
    event.action,
    event.target ?? '-',
    details,
    event.ip === null ? '' : `(${event.ip})`,
  ]
    .filter((part) => part !== '')
    .join('  ')}\n`;
}
