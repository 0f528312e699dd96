import {
  jobDtoSchema,
  jobHistoryPageSchema,
  jobOutcomes,
  jobStates,
  runDtoSchema,
  type JobDto,
  type JobHistoryPage,
} from '@edgestelle/protocol';
import type { Command } from 'commander';
import { z } from 'zod';
import type { Query } from '../api-client.ts';
import { usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import {
  formatCounts,
  formatJobRow,
  formatJobWhat,
  formatLimit,
  formatRunSummary,
  formatTable,
  formatTags,
  formatTarget,
  formatTime,
} from '../format.ts';
import { parseNodeId, parseTimeFlag } from '../parse-args.ts';
import { formatRolloutPlan, formatWaveRows } from '../rollout-format.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { collect, examples } from './help.ts';
import { parseScriptName } from './scripts.ts';

export const runsListSchema = z.object({ items: z.array(runDtoSchema) });

interface JobsFlags {
  state?: string[];
  outcome?: string[];
  user?: string;
  node?: string;
  script?: string;
  since?: string;
  until?: string;
  limit: string;
  cursor?: string;
  json?: boolean;
  quiet?: boolean;
}

/** Returns the `jobs` command, for `jobs cancel` (cancel.ts). */
export function addJobsVerb(program: Command, terminal: Terminal): Command {
  return program
    .command('jobs')
    .description('list recent jobs, newest first, or show one job with its runs')
    .argument('[jobId]', 'show this job and a summary of its runs')
    .option('--state <state>', `only jobs in this state: ${jobStates.join(', ')} (repeatable or a,b)`, collect)
    .option('--outcome <outcome>', `only jobs that ended so: ${jobOutcomes.join(', ')} (repeatable or a,b)`, collect)
    .option('--user <name>', 'only jobs this user started')
    .option('--node <nodeId>', 'only jobs with a run on this node')
    .option('--script <name>', 'only jobs of this library script')
    .option('--since <time>', 'only jobs created since: a time ago (30m, 2d) or a date (2026-11-24T10:00:00Z)')
    .option('--until <time>', 'only jobs created before this (same forms as --since)')
    .option('--limit <n>', 'how many jobs (1-200)', '20')
    .option('--cursor <cursor>', 'continue a listing where the last page ended')
    .option('--json', 'print the API’s JobDto (and RunDto) as JSON')
    .option('-q, --quiet', 'print job ids only, one a line')
    .addHelpText(
      'after',
      `
Prints the jobs, then on stderr the count of every job matching the filters by state
(the --state and --outcome filters aside), e.g. "running 1 · paused 0 · finished 40 · cancelled 2 · stopped 0".
OUTCOME is how a job ended: succeeded (every run), failed (no run succeeded), partial, or
cancelled; '-' while it runs.
${examples(
  'edgestelle jobs',
  'edgestelle jobs --state running',
  'edgestelle jobs --outcome failed,partial --since 1d',
  'edgestelle jobs cancel 01jd3v7k2m9q8r5t4w6x8y0z2a',
  'edgestelle jobs --state cancelled,stopped --since 7d --user alice',
  'edgestelle jobs --node edge-01 --script restart-unit --since 2026-11-01 --until 2026-11-08',
  'edgestelle jobs --limit 100 --json',
  'edgestelle jobs 01jd3v7k2m9q8r5t4w6x8y0z2a',
)}`,
    )
    .action(async (jobId: string | undefined, flags: JobsFlags) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200)
        throw usageError(`--limit: '${flags.limit}' is not 1-200`);
      const { api } = await connect(terminal.env);
      if (jobId !== undefined) {
        const [job, runs] = await Promise.all([
          api.get(`/api/v1/jobs/${encodeURIComponent(jobId)}`, jobDtoSchema),
          api.get(`/api/v1/jobs/${encodeURIComponent(jobId)}/runs`, runsListSchema),
        ]);
        if (flags.json === true) printJson(terminal, { job, runs: runs.items });
        else terminal.stdout.write(`${formatJobDetail(job)}\n\n${formatRunSummary(runs.items)}\n`);
        return;
      }
      const page = await api.get('/api/v1/jobs', jobHistoryPageSchema, {
        ...jobFilters(flags, Date.now()),
        limit,
        cursor: flags.cursor,
      });
      if (flags.json === true) {
        printJson(terminal, page);
        return;
      }
      if (flags.quiet === true) {
        terminal.stdout.write(page.items.map((job) => `${job.jobId}\n`).join(''));
        return;
      }
      const now = Date.now();
      terminal.stdout.write(
        page.items.length === 0
          ? 'No jobs.\n'
          : `${formatTable(
              ['JOB', 'CREATED', 'BY', 'STATE', 'OUTCOME', 'TARGET', 'RUNS', 'COMMAND'],
              page.items.map((job) => formatJobRow(job, now)),
            )}\n`,
      );
      terminal.stderr.write(`${formatJobCounts(page.counts)}\n`);
      if (page.nextCursor !== null) {
        terminal.stderr.write(`More: add --cursor ${page.nextCursor} to the same command\n`);
      }
    });
}

/** The `GET /api/v1/jobs` query for the filter flags (docs/API.md, JobListQuery). */
export function jobFilters(flags: JobsFlags, nowMs: number): Query {
  const states = commaList(flags.state);
  for (const state of states) {
    if ((jobOutcomes as readonly string[]).includes(state) && !(jobStates as readonly string[]).includes(state)) {
      throw usageError(`--state: '${state}' is how a job ended, not its state: use --outcome ${state}`);
    }
    if (!(jobStates as readonly string[]).includes(state)) {
      throw usageError(`--state: '${state}' is not a job state (${jobStates.join(', ')})`);
    }
  }
  const outcomes = commaList(flags.outcome);
  for (const outcome of outcomes) {
    if (!(jobOutcomes as readonly string[]).includes(outcome)) {
      throw usageError(`--outcome: '${outcome}' is not a job outcome (${jobOutcomes.join(', ')})`);
    }
  }
  return {
    state: states.length === 0 ? undefined : states.join(','),
    outcome: outcomes.length === 0 ? undefined : outcomes.join(','),
    createdBy: flags.user,
    nodeId: flags.node === undefined ? undefined : parseNodeId(flags.node),
    scriptName: flags.script === undefined ? undefined : parseScriptName(flags.script, '--script'),
    from: flags.since === undefined ? undefined : parseTimeFlag(flags.since, '--since', nowMs),
    to: flags.until === undefined ? undefined : parseTimeFlag(flags.until, '--until', nowMs),
  };
}

/** Repeated flags and comma lists alike (`--state a,b --state c`). */
function commaList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
}

/** `running 1 · paused 0 · finished 40 · cancelled 2 · stopped 0`, in the order of jobStates. */
export function formatJobCounts(counts: JobHistoryPage['counts']): string {
  return jobStates.map((state) => `${state} ${counts[state] ?? 0}`).join(' · ');
}

export function formatJobDetail(job: JobDto, nowMs = Date.now()): string {
  return formatTable(
    ['JOB', job.jobId],
    [
      ['state', job.pausedReason === null ? job.state : `${job.state}: ${job.pausedReason}`],
      ['outcome', job.outcome ?? '-'],
      ['command', formatJobWhat(job, 200)],
      ['secret env', formatTags(job.secretEnv)],
      ['target', formatTarget(job.target)],
      ['created', `${formatTime(job.createdAt)} by ${job.createdBy}`],
      ['finished', formatTime(job.finishedAt)],
      ['concurrency', formatLimit(job.concurrency)],
      ['max failures', formatLimit(job.maxFailures)],
      ['runs', formatCounts(job.counts)],
      ...(job.leftOutNodeIds.length === 0
        ? []
        : [['left out', `${job.leftOutNodeIds.join(', ')} (offline at start, online-only)`]]),
      ...(job.rollout === null
        ? []
        : [['waves', formatRolloutPlan(job.rollout)], ...formatWaveRows(job.rollout, nowMs)]),
    ],
  );
}
