import { jobDtoSchema, pageSchema, runDtoSchema, type JobDto } from '@edgestelle/protocol';
import type { Command } from 'commander';
import { z } from 'zod';
import { usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import {
  formatCounts,
  formatJobRow,
  formatLimit,
  formatRunSummary,
  formatSpec,
  formatTable,
  formatTarget,
  formatTime,
} from '../format.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { examples } from './help.ts';

const jobPageSchema = pageSchema(jobDtoSchema);
const runsListSchema = z.object({ items: z.array(runDtoSchema) });

interface JobsFlags {
  limit: string;
  cursor?: string;
  json?: boolean;
}

export function addJobsVerb(program: Command, terminal: Terminal): void {
  program
    .command('jobs')
    .description('list recent jobs, newest first, or show one job with its runs')
    .argument('[jobId]', 'show this job and a summary of its runs')
    .option('--limit <n>', 'how many jobs (1-200)', '20')
    .option('--cursor <cursor>', 'continue a listing where the last page ended')
    .option('--json', 'print the API’s JobDto (and RunDto) as JSON')
    .addHelpText(
      'after',
      examples('edgestelle jobs', 'edgestelle jobs --limit 100 --json', 'edgestelle jobs 01jd3v7k2m9q8r5t4w6x8y0z2a'),
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
      const page = await api.get('/api/v1/jobs', jobPageSchema, { limit, cursor: flags.cursor });
      if (flags.json === true) {
        printJson(terminal, page);
        return;
      }
      const now = Date.now();
      terminal.stdout.write(
        page.items.length === 0
          ? 'No jobs.\n'
          : `${formatTable(
              ['JOB', 'CREATED', 'BY', 'STATE', 'TARGET', 'RUNS', 'COMMAND'],
              page.items.map((job) => formatJobRow(job, now)),
            )}\n`,
      );
      if (page.nextCursor !== null) terminal.stderr.write(`More: edgestelle jobs --cursor ${page.nextCursor}\n`);
    });
}

export function formatJobDetail(job: JobDto): string {
  return formatTable(
    ['JOB', job.jobId],
    [
      ['state', job.state],
      ['command', formatSpec(job.spec, 200)],
      ['target', formatTarget(job.target)],
      ['created', `${formatTime(job.createdAt)} by ${job.createdBy}`],
      ['finished', formatTime(job.finishedAt)],
      ['concurrency', formatLimit(job.concurrency)],
      ['max failures', formatLimit(job.maxFailures)],
      ['runs', formatCounts(job.counts)],
    ],
  );
}
