import { jobDtoSchema } from '@edgestelle/protocol';
import type { Command } from 'commander';
import { connect } from '../credentials.ts';
import { formatCounts } from '../format.ts';
import { formatWavePosition } from '../rollout-format.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { examples } from './help.ts';

/** `jobs pause JOB` and `jobs resume JOB`, under the `jobs` verb. */
export function addJobControlVerbs(jobs: Command, terminal: Terminal): void {
  // `jobs pause JOB --json`: options after the verb belong to it, not to `jobs`' own --json.
  jobs.enablePositionalOptions();
  for (const [verb, description, help] of [
    [
      'pause',
      'start no more runs of a job until it is resumed (runs already started go on)',
      'A job paused at a rollout’s gate is already paused; `jobs JOB` shows why.',
    ],
    [
      'resume',
      'resume a paused job; at a rollout’s gate this approves the next wave',
      'Resuming a wave held for its failure rate starts the next wave anyway; to stop there, cancel the job.',
    ],
  ] as const) {
    jobs
      .command(verb)
      .description(description)
      .argument('<jobId>', 'the job')
      .option('--json', 'print the job (the API’s JobDto) as JSON')
      .addHelpText(
        'after',
        `\n${help}\n${examples(`edgestelle jobs ${verb} 01jd3v7k2m9q8r5t4w6x8y0z2a`, `edgestelle jobs ${verb} 01jd3v7k2m9q8r5t4w6x8y0z2a --json`)}`,
      )
      .action(async (jobId: string, flags: { json?: boolean }) => {
        const { api } = await connect(terminal.env);
        const job = await api.post(`/api/v1/jobs/${encodeURIComponent(jobId)}/${verb}`, jobDtoSchema);
        if (flags.json === true) {
          printJson(terminal, job);
          return;
        }
        const where = job.rollout === null ? '' : `, ${formatWavePosition(job.rollout)}`;
        const reason = job.pausedReason === null ? '' : `: ${job.pausedReason}`;
        terminal.stdout.write(`Job ${job.jobId} is ${job.state}${where}${reason}\n${formatCounts(job.counts)}\n`);
      });
  }
}
