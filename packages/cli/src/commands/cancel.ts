import { isTerminalRunState, jobDtoSchema, runDtoSchema, type JobDto } from '@edgestelle/protocol';
import type { Command } from 'commander';
import { connect } from '../credentials.ts';
import type { Terminal } from '../terminal.ts';
import { examples } from './help.ts';

/** `jobs cancel JOB…` under the jobs listing, and `runs cancel RUN…` (operators and admins). */
export function addCancelVerbs(program: Command, jobs: Command, terminal: Terminal): void {
  jobs
    .command('cancel')
    .description('cancel jobs: queued runs never start, running ones are stopped (TERM, then KILL)')
    .argument('<jobId...>', 'ids from edgestelle jobs')
    .addHelpText(
      'after',
      `
Returns once the master has the cancel; the nodes stop their runs within the job's kill grace.
A job that had already ended is left as it was (exit 0). See how it ended: edgestelle jobs JOB.
${examples('edgestelle jobs cancel 01jd3v7k2m9q8r5t4w6x8y0z2a', 'edgestelle jobs --state running -q | xargs edgestelle jobs cancel')}`,
    )
    .action(async (jobIds: string[]) => {
      const { api } = await connect(terminal.env);
      for (const jobId of jobIds) {
        const path = `/api/v1/jobs/${encodeURIComponent(jobId)}`;
        const before = await api.get(path, jobDtoSchema);
        if (before.finishedAt !== null) {
          terminal.stderr.write(
            `Job ${jobId} had already ended (${before.state}, ${before.outcome ?? 'no outcome'}): nothing to cancel.\n`,
          );
          continue;
        }
        terminal.stderr.write(`${describeJobCancel(await api.post(`${path}/cancel`, jobDtoSchema))}\n`);
      }
    });
  program
    .command('runs')
    .description('single runs of a job (see edgestelle jobs JOB for a job’s runs)')
    .addHelpText('after', examples('edgestelle runs cancel 01jd3v7q0c1b2n3m4k5j6h7g8f'))
    .command('cancel')
    .description('cancel runs: one node’s run of a job, the job’s other runs go on')
    .argument('<runId...>', 'ids from edgestelle jobs JOB')
    .addHelpText('after', examples('edgestelle runs cancel 01jd3v7q0c1b2n3m4k5j6h7g8f'))
    .action(async (runIds: string[]) => {
      const { api } = await connect(terminal.env);
      for (const runId of runIds) {
        const before = await api.get(`/api/v1/runs/${encodeURIComponent(runId)}`, runDtoSchema);
        if (isTerminalRunState(before.state)) {
          terminal.stderr.write(`Run ${runId} on ${before.nodeId} had already ended (${before.state}).\n`);
          continue;
        }
        const run = await api.post(`/api/v1/runs/${encodeURIComponent(runId)}/cancel`, runDtoSchema);
        terminal.stderr.write(
          run.state === 'cancelled'
            ? `Cancelled run ${runId} on ${run.nodeId}.\n`
            : `Cancelling run ${runId} on ${run.nodeId} (${run.state}); the node stops it.\n`,
        );
      }
    });
}

function describeJobCancel(job: JobDto): string {
  const stopping = job.counts.sent + job.counts.accepted + job.counts.running;
  return stopping === 0
    ? `Cancelled job ${job.jobId}.`
    : `Cancelling job ${job.jobId}: ${stopping} run${stopping === 1 ? '' : 's'} being stopped on the nodes.`;
}
