import { ExitCode, parseSearchWords, runStates, searchPageSchema, type SearchHit } from '@edgestelle/protocol';
import type { Command } from 'commander';
import type { Query } from '../api-client.ts';
import { usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { escapeControl } from '../escape-control.ts';
import { parseNodeId, parseTimeFlag } from '../parse-args.ts';
import { nodeColour, paint } from '../style.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { collect, examples } from './help.ts';
import { parseScriptName } from './scripts.ts';

interface SearchFlags {
  node?: string;
  job?: string;
  script?: string;
  user?: string;
  state?: string[];
  since?: string;
  until?: string;
  limit: string;
  cursor?: string;
  json?: boolean;
  raw?: boolean;
}

const BOLD = 1;

export function addSearchVerb(program: Command, terminal: Terminal): void {
  program
    .command('search')
    .description('find lines in stored run output: node, run, seq and the line, newest run first')
    .argument(
      '<query...>',
      'words a line must all contain (any case, 3+ characters each besides spaces and control characters); one argument with spaces is a phrase',
    )
    .option('--node <nodeId>', 'only output of this node')
    .option('--job <jobId>', 'only output of this job')
    .option('--script <name>', 'only output of runs of this library script')
    .option('--user <name>', 'only output of jobs this user started')
    .option('--state <state>', 'only runs in this state (repeatable or a,b), e.g. failed,timed_out', collect)
    .option('--since <time>', 'only runs created since: a time ago (30m, 2d) or a date (2026-11-24T10:00:00Z)')
    .option('--until <time>', 'only runs created before this (same forms as --since)')
    .option('--limit <n>', 'how many lines (1-200)', '50')
    .option('--cursor <cursor>', 'continue where the last page ended')
    .option('--json', 'print the API’s SearchPage as JSON')
    .option('--raw', 'write lines as stored even to a terminal (control characters are escaped otherwise)')
    .addHelpText(
      'after',
      `
Each hit prints NODE RUN SEQ LINE; show the run from there with edgestelle logs RUN.
${examples(
  'edgestelle search "out of memory"',
  'edgestelle search error collector --node edge-01 --since 1d',
  'edgestelle search \'"disk full"\' --state failed,timed_out --json',
)}`,
    )
    .action(async (words: string[], flags: SearchFlags) => {
      const query = searchQuery(words, flags, Date.now());
      const { api } = await connect(terminal.env);
      const page = await api.get('/api/v1/search', searchPageSchema, query);
      // As grep: 1 when nothing matched, so `edgestelle search … && alert` does what it says.
      if (page.items.length === 0) process.exitCode = ExitCode.failure;
      if (flags.json === true) {
        printJson(terminal, page);
        return;
      }
      const escape = terminal.stdoutIsTty && flags.raw !== true;
      const nodeWidth = Math.max(0, ...page.items.map((hit) => hit.nodeId.length));
      terminal.stdout.write(
        page.items.map((hit) => `${formatHit(hit, { escape, colour: terminal.colour, nodeWidth })}\n`).join(''),
      );
      if (page.items.length === 0) terminal.stderr.write('No lines match.\n');
      if (page.nextCursor !== null)
        terminal.stderr.write(`More: add --cursor ${page.nextCursor} to the same command\n`);
    });
}

/** The `GET /api/v1/search` query (docs/API.md, SearchQuery), checked before it is sent. */
export function searchQuery(words: readonly string[], flags: SearchFlags, nowMs: number): Query {
  // One shell argument with spaces (`search "out of memory"`) is meant as a phrase.
  const q = words
    .map((word) => word.trim())
    .map((word) => (/\s/.test(word) && !word.includes('"') ? `"${word}"` : word))
    .join(' ')
    .trim();
  const parsed = parseSearchWords(q);
  if (!parsed.ok) throw usageError(parsed.problem);
  if (q.length > 256) throw usageError('the search text is longer than 256 characters');
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw usageError(`--limit: '${flags.limit}' is not 1-200`);
  const states = (flags.state ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
  for (const state of states) {
    if (!(runStates as readonly string[]).includes(state)) {
      throw usageError(`--state: '${state}' is not a run state (${runStates.join(', ')})`);
    }
  }
  return {
    q,
    nodeId: flags.node === undefined ? undefined : parseNodeId(flags.node),
    jobId: flags.job,
    scriptName: flags.script === undefined ? undefined : parseScriptName(flags.script, '--script'),
    user: flags.user,
    state: states.length === 0 ? undefined : states.join(','),
    from: flags.since === undefined ? undefined : parseTimeFlag(flags.since, '--since', nowMs),
    to: flags.until === undefined ? undefined : parseTimeFlag(flags.until, '--until', nowMs),
    cursor: flags.cursor,
    limit,
  };
}

/**
 * `edge-01  01JD…  seq 3  the line`. The line is output of a node: escaped on a terminal
 * (per piece, so the highlighted words stay where the master said they are), bold where it
 * matched when colour is on.
 */
export function formatHit(hit: SearchHit, options: { escape: boolean; colour: boolean; nodeWidth: number }): string {
  const node = hit.nodeId.padEnd(options.nodeWidth);
  let line = '';
  let at = 0;
  const piece = (text: string): string => (options.escape ? escapeControl(text) : text);
  for (const { start, end } of hit.highlights) {
    if (start < at || end > hit.line.length || end <= start) continue;
    line += piece(hit.line.slice(at, start));
    const word = piece(hit.line.slice(start, end));
    line += options.colour ? paint(word, BOLD) : word;
    at = end;
  }
  line += piece(hit.line.slice(at));
  // The master sends at most 2,000 characters of a long line, around its first match.
  if (hit.lineStart > 0) line = `…${line}`;
  if (hit.lineStart + hit.line.length < hit.lineLength) line = `${line}…`;
  return `${options.colour ? paint(node, nodeColour(hit.nodeId)) : node}  ${hit.runId}  seq ${hit.seq}  ${line}`;
}
