import { terminalRunStates, type JobDto, type Target } from '@edgestelle/protocol';
import type { BenchApi } from '../lib/api.ts';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { cpuSeconds } from '../lib/proc.ts';
import { median } from '../lib/stats.ts';

export interface FanoutResult {
  /** p50 over the rounds: from POST /jobs until every run was accepted (none queued or sent). */
  allAcceptedMs: number;
  /** p50 over the rounds: from POST /jobs until every run ended. */
  allExitedMs: number;
  /**
   * Per round; `createdMs`: until POST /jobs answered, which is after every command was published.
   * `masterCpuMs` / `fleetCpuMs`: CPU time the master's process / the fleet's processes used in
   * the round, steadier than wall time on a shared machine; both share its 2 cores.
   */
  rounds: { createdMs: number; acceptedMs: number; exitedMs: number; masterCpuMs: number; fleetCpuMs: number }[];
}

const notYetAccepted = new Set(['queued', 'sent']);

function tally(job: JobDto): { accepted: number; ended: number } {
  let accepted = 0;
  let ended = 0;
  for (const [state, count] of Object.entries(job.counts)) {
    if (!notYetAccepted.has(state)) accepted += count;
    if (terminalRunStates.some((terminal) => terminal === state)) ended += count;
  }
  return { accepted, ended };
}

/**
 * One job of `command` to `target` (`count` nodes), `rounds` times, watched as the console
 * watches it: a live-hub job subscription, whose counts the hub coalesces every 50 ms (the
 * resolution of these figures).
 */
export async function measureFanout(
  api: BenchApi,
  pids: { master: number; fleet: readonly number[] },
  target: Target,
  count: number,
  rounds: number,
  command = 'true',
): Promise<FanoutResult> {
  const results: FanoutResult['rounds'] = [];
  for (let round = 0; round < rounds; round += 1) {
    let jobId: string | undefined;
    let startedAt = 0;
    let acceptedAt: number | undefined;
    let resolveEnded: (at: number) => void = () => undefined;
    const ended = new Promise<number>((resolve) => (resolveEnded = resolve));
    const onJob = (job: JobDto, at: number): void => {
      const { accepted, ended: done } = tally(job);
      if (accepted >= count) acceptedAt ??= at;
      if (done >= count) resolveEnded(at);
    };
    const live = await api.live((message, receivedAt) => {
      if (message.type === 'job' && message.job.jobId === jobId) onJob(message.job, receivedAt);
    });
    try {
      const fleetCpu = (): number => pids.fleet.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
      const masterBefore = cpuSeconds(pids.master);
      const fleetBefore = fleetCpu();
      startedAt = performance.timeOrigin + performance.now();
      const job = await api.createJob({ target, spec: { command, timeoutMs: 120_000 }, offlineDeadlineMs: 60_000 });
      const createdAt = performance.timeOrigin + performance.now();
      jobId = job.jobId;
      if (job.nodeCount !== count) {
        throw new BenchError(BenchErrorCode.apiFailed, `the job targets ${job.nodeCount} nodes, expected ${count}`);
      }
      live.send({ type: 'subscribe', topic: 'job', jobId });
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new BenchError(BenchErrorCode.timeout, `fan-out to ${count} nodes did not end within 300 s`)),
          300_000,
        ).unref(),
      );
      const endedAt = await Promise.race([ended, timeout]);
      results.push({
        createdMs: createdAt - startedAt,
        acceptedMs: (acceptedAt ?? endedAt) - startedAt,
        exitedMs: endedAt - startedAt,
        masterCpuMs: (cpuSeconds(pids.master) - masterBefore) * 1000,
        fleetCpuMs: (fleetCpu() - fleetBefore) * 1000,
      });
    } finally {
      await live.close();
    }
  }
  return {
    allAcceptedMs: median(results.map((r) => r.acceptedMs)),
    allExitedMs: median(results.map((r) => r.exitedMs)),
    rounds: results,
  };
}
