import type { AgentEvent, RunCommand } from '@edgestelle/protocol';
import type { Logger } from 'pino';
import type { RunExecutor } from './executor.ts';
import type { Ledger, LedgerEntry } from './ledger.ts';
import type { Outbox } from './outbox.ts';
import { Run } from './run-lifecycle.ts';
import type { RunRecords } from './run-records.ts';
import type { RunScheduler } from './run-scheduler.ts';
import type { Spool } from './spool.ts';
import type { AgentCounters } from './stats.ts';

export interface RunAdmissionOptions {
  executor: Pick<RunExecutor, 'refuse'>;
  spool: Spool;
  ledger: Ledger;
  outbox: Outbox;
  records: RunRecords;
  scheduler: RunScheduler;
  counters: AgentCounters;
  logger: Logger;
  now: () => number;
  publishEvent: (event: AgentEvent) => void;
}

/**
 * A run command, up to the run's place in line: a run id the ledger knows is answered with
 * its state and never run again; a new one is checked (deadline, what this node can run),
 * recorded in the ledger and, once that line is on disk, handed to the scheduler.
 */
export class RunAdmission {
  constructor(private readonly options: RunAdmissionOptions) {}

  async handle(command: RunCommand): Promise<void> {
    const { executor, ledger, records, scheduler, logger, now } = this.options;
    const known = ledger.get(command.runId);
    if (known !== undefined) {
      this.answerKnown(known);
      return;
    }
    const run = new Run(command);
    if (command.deadlineAt < now()) {
      run.to('rejected');
      records.reject(
        command,
        'expired',
        `the run's deadline passed ${Math.round((now() - command.deadlineAt) / 1000)} s ago`,
      );
      return;
    }
    const refusal = await executor.refuse(command.spec);
    if (refusal !== undefined) {
      run.to('rejected');
      records.reject(command, refusal.code, refusal.reason);
      return;
    }
    run.to('recorded');
    ledger.put({
      runId: command.runId,
      jobId: command.jobId,
      deadlineAt: command.deadlineAt,
      receivedAt: now(),
      state: 'accepted',
    });
    try {
      // Commands wait in line meanwhile (commands.ts), so nothing about this run can overtake it.
      await ledger.durable();
    } catch (err) {
      logger.error({ err, runId: command.runId }, 'cannot make the run ledger durable: run refused');
      run.to('rejected');
      records.reject(
        command,
        'spawn_failed',
        `the agent cannot write its run ledger to disk: ${err instanceof Error ? err.message : String(err)}`,
      );
      return;
    }
    scheduler.enqueue(run);
  }

  /** A run the ledger knows is answered with its state, never run again. */
  private answerKnown(entry: LedgerEntry): void {
    const { spool, outbox, counters, logger, publishEvent } = this.options;
    counters.redeliveries += 1;
    logger.info({ runId: entry.runId, state: entry.state }, 'run delivered again: answering with its state');
    if (entry.state === 'rejected' && entry.rejection !== undefined) {
      publishEvent({ kind: 'rejected', runId: entry.runId, ...entry.rejection });
      return;
    }
    publishEvent({ kind: 'accepted', runId: entry.runId });
    if (entry.pid !== undefined && entry.startedAt !== undefined) {
      publishEvent({ kind: 'started', runId: entry.runId, pid: entry.pid, startedAt: entry.startedAt });
    }
    if (spool.get(entry.runId) !== undefined) outbox.rewind(entry.runId);
    else if (entry.state === 'delivered' && entry.exited !== undefined) publishEvent(entry.exited);
  }
}
