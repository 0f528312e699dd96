import type { JobDto, RunDto } from '@edgestelle/protocol';
import type { Connection } from './credentials.ts';
import { countProgress, formatProgress } from './format.ts';
import { JobWatcher, type WatchResult, type WatchScope } from './job-watcher.ts';
import { OutputRenderer } from './output-renderer.ts';
import { formatPauseNotice, formatWavePosition } from './rollout-format.ts';
import { StatusLine, writeOutput, type Terminal } from './terminal.ts';

export interface FollowOptions {
  /** Write the runs' output (false for --json, which prints only the result). */
  showOutput: boolean;
  prefixed: boolean;
  raw: boolean;
  /** Show the n/N progress line on a terminal. */
  progress: boolean;
  nodeCount: number;
}

export interface Following {
  result: Promise<WatchResult>;
  status: StatusLine;
  /** Stop following (detach); `result` then never settles. */
  stop(): void;
}

/**
 * Streams a job's (or a run's) output to the terminal while it runs, with the progress line,
 * and resolves with the end state. Shared by `run` and `logs --follow`.
 */
export function followOutput(
  terminal: Terminal,
  connection: Connection,
  scope: WatchScope,
  options: FollowOptions,
): Following {
  const renderer = new OutputRenderer({
    prefixed: options.prefixed,
    colour: terminal.colour,
    escape: { stdout: terminal.stdoutIsTty && !options.raw, stderr: terminal.stderrIsTty && !options.raw },
  });
  const status = new StatusLine(terminal.stderr, options.progress && terminal.stderrIsTty);
  const startedAtMs = Date.now();
  const runs = new Map<string, RunDto>();
  let job: JobDto | null = null;
  let noticed: string | null = null;
  const refresh = (): void => {
    const progress = formatProgress(countProgress(options.nodeCount, [...runs.values()]), Date.now() - startedAtMs);
    const wave = job?.rollout == null ? '' : `${formatWavePosition(job.rollout)} · `;
    status.update(`${wave}${job?.state === 'paused' ? 'paused · ' : ''}${progress}`);
  };
  const ticker = setInterval(refresh, 1000);
  const watcher = new JobWatcher(connection.api, connection.token, scope, {
    onJob(next) {
      job = next;
      // Said once per pause, terminal or not: a job held at a gate waits for someone to act.
      if (next.state === 'paused' && next.pausedReason !== noticed) {
        noticed = next.pausedReason;
        status.around(() => terminal.stderr.write(formatPauseNotice(next)));
      }
      if (next.state !== 'paused') noticed = null;
      refresh();
    },
    onRun(run) {
      runs.set(run.runId, run);
      renderer.addNode(run.nodeId);
      refresh();
    },
    onChunk(run, chunk, bytes) {
      if (!options.showOutput) return;
      status.around(() => writeOutput(terminal, renderer.chunk(run.nodeId, run.runId, chunk.stream, bytes)));
    },
    onReconnecting(reason) {
      status.around(() => terminal.stderr.write(`edgestelle: lost the live hub (${reason}); reconnecting…\n`));
    },
    onRunDone(run, outputComplete) {
      runs.set(run.runId, run);
      status.around(() => {
        if (options.showOutput) writeOutput(terminal, renderer.endRun(run.nodeId, run.runId));
        if (!outputComplete) {
          terminal.stderr.write(
            `edgestelle: the output of ${run.nodeId} may be incomplete (not all of it reached the master); see edgestelle logs ${run.runId}\n`,
          );
        }
      });
      refresh();
    },
  });
  const stop = (): void => {
    clearInterval(ticker);
    status.clear();
  };
  const result = watcher.watch().finally(stop);
  return {
    result,
    status,
    stop() {
      watcher.stop();
      stop();
    },
  };
}
