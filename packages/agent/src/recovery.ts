import type { Logger } from 'pino';
import type { Ledger } from './ledger.ts';
import { leadsProcessGroup, signalGroup } from './process-group.ts';
import type { RunRecords } from './run-records.ts';
import type { Spool } from './spool.ts';

export interface RecoveryOptions {
  spool: Spool;
  ledger: Ledger;
  records: RunRecords;
  logger: Logger;
  now: () => number;
}

/**
 * At start, what the last agent left behind: runs it was carrying end as `interrupted` (their
 * output is still delivered), an exit the spool lost but the ledger kept is written again, and
 * runs whose removal a crash interrupted are removed. The spool has read itself back by now,
 * cutting damaged segments (spool.ts).
 */
export function recoverRuns({ spool, ledger, records, logger, now }: RecoveryOptions): void {
  for (const entry of [...ledger.list()]) {
    if (entry.state === 'accepted' || entry.state === 'running') {
      if (entry.pid !== undefined && leadsProcessGroup(entry.pid)) {
        logger.warn({ runId: entry.runId, pid: entry.pid }, 'ending a run the previous agent left running');
        signalGroup(entry.pid, 'SIGKILL');
      }
      const spoolRun = spool.get(entry.runId) ?? spool.createRun(entry.runId);
      spool.appendLossMarker(spoolRun, undefined);
      const exited = records.recordExit(spoolRun, {
        outcome: 'interrupted',
        exitCode: null,
        signal: null,
        startedAt: entry.startedAt ?? null,
        endedAt: now(),
        peakRssBytes: null,
        reason: `the agent stopped while the run was ${entry.state === 'running' ? 'running' : 'waiting to start'}`,
      });
      logger.warn(
        { runId: entry.runId, outcome: exited.outcome, chunks: exited.seq },
        'run interrupted by an agent restart',
      );
    } else if (entry.state === 'exited') {
      const spoolRun = spool.get(entry.runId);
      if (spoolRun === undefined) ledger.update(entry.runId, { state: 'delivered' });
      else if (spoolRun.exited === undefined && entry.exited !== undefined) {
        // The ledger's line reached the disk and the spool's record did not (power cut, a
        // damaged segment): the exit is written again, with the chunk count the spool kept,
        // after a marker naming the output the spool lost.
        spool.appendLossMarker(spoolRun, entry.exited.seq);
        records.recordExit(spoolRun, entry.exited);
        logger.warn({ runId: entry.runId, chunks: spoolRun.chunkCount }, "spool: restored a run's lost exit");
      }
    }
  }
  // A run whose removal a crash interrupted: it was delivered already.
  for (const spoolRun of [...spool.list()]) {
    const state = ledger.get(spoolRun.runId)?.state;
    if (spoolRun.exited === undefined && (state === 'delivered' || state === 'rejected')) spool.discard(spoolRun);
  }
}
