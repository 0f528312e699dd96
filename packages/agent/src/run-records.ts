import type { AgentEvent, ExitedEvent, RunCommand } from '@edgestelle/protocol';
import type { Logger } from 'pino';
import type { Ledger } from './ledger.ts';
import type { RunSpool, Spool } from './spool.ts';

const SPOOL_SYNC_INTERVAL_MS = 1000;

export type RunRejectionCode = 'expired' | 'pty_unavailable' | 'run_as_unavailable' | 'cwd_missing' | 'spawn_failed';
export type ExitFields = Parameters<Spool['appendExited']>[1];

export interface RunRecordsOptions {
  spool: Spool;
  ledger: Ledger;
  logger: Logger;
  now: () => number;
  publishEvent: (event: AgentEvent) => void;
}

/**
 * What the agent writes down about a run's end, in the order that keeps "durable before
 * acknowledged": a refusal in the ledger before the master hears it, an exit in the spool (its
 * fdatasync started at once) and then the ledger. Callers move the run's state first.
 */
export class RunRecords {
  private syncTimer: NodeJS.Timeout | undefined;
  private readonly onSyncError = (err: unknown): void => this.options.logger.error({ err }, 'spool: fdatasync failed');

  constructor(private readonly options: RunRecordsOptions) {}

  reject(command: RunCommand, code: RunRejectionCode, reason: string): void {
    const { ledger, logger, now, publishEvent } = this.options;
    const rejection = { code, reason: reason.slice(0, 1024) };
    if (ledger.get(command.runId) === undefined) {
      ledger.put({
        runId: command.runId,
        jobId: command.jobId,
        deadlineAt: command.deadlineAt,
        receivedAt: now(),
        state: 'rejected',
        rejection,
      });
    } else {
      ledger.update(command.runId, { state: 'rejected', rejection });
    }
    logger.info({ runId: command.runId, code, reason }, 'run rejected');
    publishEvent({ kind: 'rejected', runId: command.runId, ...rejection });
  }

  recordExit(spoolRun: RunSpool, fields: ExitFields): ExitedEvent {
    const { spool, ledger } = this.options;
    const exited = spool.appendExited(spoolRun, fields);
    this.syncNow();
    ledger.update(spoolRun.runId, { state: 'exited', exited });
    return exited;
  }

  /** Output was spooled: on disk within a second (an exit is synced at once). */
  syncSoon(): void {
    this.syncTimer ??= setTimeout(() => {
      this.syncTimer = undefined;
      this.syncNow();
    }, SPOOL_SYNC_INTERVAL_MS);
  }

  /** The spool's close syncs what is left. */
  close(): void {
    clearTimeout(this.syncTimer);
  }

  /** fdatasync of what the spool wrote, on the thread pool. */
  private syncNow(): void {
    this.options.spool.syncDirty(this.onSyncError);
  }
}
