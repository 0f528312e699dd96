import {
  ExitCode,
  isTerminalRunState,
  jobDtoSchema,
  outputPageSchema,
  runDtoSchema,
  type ChunkDto,
  type RunDto,
} from '@edgestelle/protocol';
import type { Command } from 'commander';
import { z } from 'zod';
import type { ApiClient } from '../api-client.ts';
import { CliError, CliErrorCode } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { followOutput } from '../follow-output.ts';
import { isFailedRunState } from '../format.ts';
import { OutputRenderer } from '../output-renderer.ts';
import { writeOutput, type Terminal } from '../terminal.ts';
import { examples } from './help.ts';

const runsListSchema = z.object({ items: z.array(runDtoSchema) });
const PAGE_CHUNKS = 1000;

interface LogsFlags {
  follow?: boolean;
  raw?: boolean;
}

export function addLogsVerb(program: Command, terminal: Terminal): void {
  program
    .command('logs')
    .description('print the output of a run, or of every run of a job, prefixed by node')
    .argument('<id>', 'a run id or a job id (from run, jobs or the console)')
    .option('-f, --follow', 'keep printing new output until the run or job ends')
    .option('--raw', 'write the exact bytes even to a terminal (control characters are escaped otherwise)')
    .addHelpText(
      'after',
      examples(
        'edgestelle logs 01jd3v7k2m9q8r5t4w6x8y0z2a',
        'edgestelle logs 01jd3v7k2m9q8r5t4w6x8y0z2a --follow',
        'edgestelle logs RUN_ID --raw > output.bin',
      ),
    )
    .action(async (id: string, flags: LogsFlags) => {
      process.exitCode = await logs(terminal, id, flags);
    });
}

async function logs(terminal: Terminal, id: string, flags: LogsFlags): Promise<number> {
  const connection = await connect(terminal.env);
  const { api } = connection;
  const target = await resolveRunOrJob(api, id);
  const runs = target.kind === 'run' ? [target.run] : target.runs;
  const prefixed = target.kind === 'job' && Math.max(target.nodeCount, runs.length) > 1;
  if (flags.follow === true) {
    const following = followOutput(terminal, connection, target.kind === 'run' ? { runId: id } : { jobId: id }, {
      showOutput: true,
      prefixed,
      raw: flags.raw === true,
      progress: false,
      nodeCount: target.kind === 'run' ? 1 : target.nodeCount,
    });
    return endState(terminal, (await following.result).runs);
  }
  const renderer = new OutputRenderer({
    prefixed,
    colour: terminal.colour,
    escape: { stdout: terminal.stdoutIsTty && flags.raw !== true, stderr: terminal.stderrIsTty && flags.raw !== true },
  });
  const sorted = [...runs].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  for (const run of sorted) renderer.addNode(run.nodeId);
  for (const run of sorted) {
    for await (const chunk of storedChunks(api, run.runId)) {
      writeOutput(terminal, renderer.chunk(run.nodeId, run.runId, chunk.stream, Buffer.from(chunk.data, 'base64')));
    }
    writeOutput(terminal, renderer.endRun(run.nodeId, run.runId));
  }
  const unfinished = runs.filter((run) => !run.complete).length;
  if (unfinished > 0) {
    terminal.stderr.write(
      `edgestelle: ${unfinished === 1 && runs.length === 1 ? 'the run is' : `${unfinished} runs are`} still going; add --follow to keep reading\n`,
    );
  }
  return endState(terminal, runs);
}

/**
 * As `run` ends: each ended run that did not succeed gets a state line on stderr, and then the
 * exit status is 2 (runsFailed), so `edgestelle logs RUN && …` does not go on after a failure.
 */
function endState(terminal: Terminal, runs: readonly RunDto[]): ExitCode {
  const failed = runs
    .filter((run) => isTerminalRunState(run.state) && isFailedRunState(run.state))
    .sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  for (const run of failed) {
    const exit = run.exitCode === null ? '' : `, exit code ${run.exitCode}`;
    const reason = run.reason ?? (run.signal === null ? null : `signal ${run.signal}`);
    terminal.stderr.write(
      `edgestelle: ${run.nodeId}: run ${run.runId} ${run.state}${exit}${reason === null ? '' : ` (${reason})`}\n`,
    );
  }
  return failed.length > 0 ? ExitCode.runsFailed : ExitCode.ok;
}

type RunOrJob = { kind: 'run'; run: RunDto } | { kind: 'job'; nodeCount: number; runs: RunDto[] };

/** Run and job ids look alike (26-character ids): ask for a run first, then for a job. */
async function resolveRunOrJob(api: ApiClient, id: string): Promise<RunOrJob> {
  if (!/^[0-9a-z]{26}$/.test(id)) {
    throw new CliError(
      CliErrorCode.usage,
      `'${id}' is not a run or job id (26 characters, from run, jobs or the console)`,
    );
  }
  try {
    return { kind: 'run', run: await api.get(`/api/v1/runs/${id}`, runDtoSchema) };
  } catch (err) {
    if (!(err instanceof CliError) || err.code !== CliErrorCode.notFound) throw err;
  }
  try {
    const [job, runs] = await Promise.all([
      api.get(`/api/v1/jobs/${id}`, jobDtoSchema),
      api.get(`/api/v1/jobs/${id}/runs`, runsListSchema),
    ]);
    return { kind: 'job', nodeCount: job.nodeCount, runs: runs.items };
  } catch (err) {
    if (err instanceof CliError && err.code === CliErrorCode.notFound) {
      throw new CliError(CliErrorCode.notFound, `there is no run or job ${id}`);
    }
    throw err;
  }
}

/** Every chunk stored so far, page by page, in seq order. */
async function* storedChunks(api: ApiClient, runId: string): AsyncGenerator<ChunkDto> {
  let fromSeq = 0;
  for (;;) {
    const page = await api.get(`/api/v1/runs/${runId}/output`, outputPageSchema, { fromSeq, limit: PAGE_CHUNKS });
    yield* page.chunks;
    if (page.chunks.length === 0 || page.nextSeq <= fromSeq) return;
    fromSeq = page.nextSeq;
  }
}
