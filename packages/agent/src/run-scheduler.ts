import type { OutputStream } from '@edgestelle/protocol';
import type { Logger } from 'pino';
import { Chunker } from './chunker.ts';
import type { Execution, ExecutionResult, RunExecutor } from './executor.ts';
import type { Ledger } from './ledger.ts';
import type { Outbox } from './outbox.ts';
import type { RunAnnouncer } from './run-announcer.ts';
import type { Run } from './run-lifecycle.ts';
import type { RunRecords } from './run-records.ts';
import type { RunSpool, Spool } from './spool.ts';
import type { AgentCounters } from './stats.ts';

export interface RunSchedulerOptions {
  maxConcurrentRuns: number;
  executor: RunExecutor;
  spool: Spool;
  ledger: Ledger;
  outbox: Outbox;
  records: RunRecords;
  announcer: RunAnnouncer;
  counters: AgentCounters;
  logger: Logger;
  now: () => number;
  /** Chunk cut: size and time. */
  chunkMaxBytes: number;
  chunkFlushMs: number;
  /** The agent is stopping: nothing starts any more, and a process that appears now is stopped. */
  stopping: () => boolean;
}

/**
 * Runs from their slot to their exit: at most `maxConcurrentRuns` at a time, the rest waiting
 * first in, first out. It starts each run's process, cuts its output into the spool and
 * records its exit; a cancel reaches a run wherever it is.
 */
export class RunScheduler {
  private readonly queue: Run[] = [];
  /** Runs holding a slot: starting, cancelling or running. */
  private readonly active = new Map<string, Run>();
  private onDrained: (() => void) | undefined;

  constructor(private readonly options: RunSchedulerOptions) {}

  get queuedRuns(): number {
    return this.queue.length;
  }

  get runningRuns(): number {
    let running = 0;
    for (const run of this.active.values()) if (run.state === 'running') running += 1;
    return running;
  }

  /** A recorded run (its ledger line on disk) waits for its slot. */
  enqueue(run: Run): void {
    if (this.options.stopping()) {
      run.to('interrupted');
      this.options.logger.info({ runId: run.runId }, 'run recorded while the agent stops: the next start ends it');
      return;
    }
    run.to('queued');
    this.options.announcer.arm(run);
    this.queue.push(run);
    this.startQueued();
  }

  cancel(runId: string): void {
    const { logger } = this.options;
    const queued = this.queue.findIndex((run) => run.runId === runId);
    if (queued >= 0) {
      const [run] = this.queue.splice(queued, 1);
      if (run !== undefined) this.cancelQueued(run);
      return;
    }
    const run = this.active.get(runId);
    if (run === undefined) {
      logger.info({ runId }, 'cancel for a run that is not running: nothing to do');
      return;
    }
    if (run.state === 'running') {
      logger.info({ runId }, 'cancelling run');
      run.process.execution.stop('cancelled');
      return;
    }
    if (run.state === 'starting') run.to('cancelling');
    logger.info({ runId }, 'cancel while the run is starting: it is stopped once started');
  }

  /**
   * The agent stops: waiting runs are left to the next start (their ledger line says
   * `accepted`, so it reports them `interrupted`), running ones are stopped as `interrupted`.
   * Resolves once no run holds a slot.
   */
  interruptAll(): Promise<void> {
    for (const run of this.queue.splice(0)) {
      run.to('interrupted');
      this.options.announcer.settle(run);
    }
    for (const run of this.active.values()) {
      if (run.state === 'running') run.process.execution.stop('interrupted');
    }
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onDrained = resolve;
    });
  }

  private startQueued(): void {
    const { maxConcurrentRuns, stopping, logger } = this.options;
    while (!stopping() && this.queue.length > 0 && this.active.size < maxConcurrentRuns) {
      const run = this.queue.shift();
      if (run === undefined) return;
      run.to('starting');
      this.active.set(run.runId, run);
      this.start(run).catch((err: unknown) => logger.error({ err, runId: run.runId }, 'run start failed'));
    }
  }

  private async start(run: Run): Promise<void> {
    const { command } = run;
    const { executor, spool, ledger, counters, logger, now } = this.options;
    if (command.deadlineAt < now()) {
      this.refuse(run, 'expired', 'the run waited for a free slot until past its deadline');
      return;
    }
    let execution: Execution;
    try {
      counters.spawns += 1;
      execution = await executor.start(
        { runId: command.runId, jobId: command.jobId, spec: command.spec },
        {
          onOutput: (stream, data) => this.output(run, stream, data),
          onExit: (result) => this.exited(run, result),
        },
      );
    } catch (err) {
      this.refuse(run, 'spawn_failed', err instanceof Error ? err.message : String(err));
      return;
    }
    const cancelled = run.state === 'cancelling';
    const spoolRun = spool.createRun(command.runId);
    run.processStarted({
      execution,
      spoolRun,
      chunker: new Chunker({
        maxBytes: this.options.chunkMaxBytes,
        flushDelayMs: this.options.chunkFlushMs,
        emit: (stream, data) => this.spoolOutput(spoolRun, stream, data),
      }),
    });
    ledger.update(command.runId, { state: 'running', pid: execution.pid, startedAt: execution.startedAt });
    logger.info({ runId: command.runId, pid: execution.pid }, 'run started');
    this.options.announcer.started(run);
    // Stopped only now that it is `running`, so an exit it reports at once finds it so.
    if (this.options.stopping()) execution.stop('interrupted');
    else if (cancelled) execution.stop('cancelled');
  }

  /** A run that got a slot and then could not start: it gives the slot back. */
  private refuse(run: Run, code: 'expired' | 'spawn_failed', reason: string): void {
    run.to('rejected');
    this.options.announcer.settle(run);
    this.release(run);
    this.options.records.reject(run.command, code, reason);
    this.startQueued();
  }

  private output(run: Run, stream: 'stdout' | 'stderr', data: Buffer): void {
    // A PTY may hand over a last read after its exit; the run's record is closed by then.
    if (run.state !== 'running') {
      this.options.logger.debug({ runId: run.runId, bytes: data.byteLength }, 'output after the run ended: dropped');
      return;
    }
    run.process.chunker.push(stream, data);
  }

  private spoolOutput(spoolRun: RunSpool, stream: OutputStream, data: Buffer): void {
    const { spool, records, outbox, logger } = this.options;
    let result;
    try {
      result = spool.appendChunk(spoolRun, stream, data);
    } catch (err) {
      // A full or failing disk must not take the agent down; the run is flagged as cut so
      // the loss is not silent.
      spoolRun.truncated = true;
      logger.error({ err, runId: spoolRun.runId }, 'cannot write output to the spool: run output cut');
      return;
    }
    if (result === 'cut') {
      logger.warn({ runId: spoolRun.runId, spoolMaxBytes: spool.maxBytes }, 'spool full: run output cut');
    }
    records.syncSoon();
    outbox.wake();
  }

  private exited(run: Run, result: ExecutionResult): void {
    // Only a running run exits: an executor that reports an exit twice, or before its start
    // resolved, is refused here.
    run.to('exited');
    const { chunker, spoolRun } = run.process;
    chunker.flush();
    this.options.announcer.settle(run);
    const exited = this.options.records.recordExit(spoolRun, {
      outcome: result.outcome,
      exitCode: result.exitCode,
      signal: result.signal,
      startedAt: result.startedAt,
      endedAt: result.endedAt,
      peakRssBytes: result.peakRssBytes,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
    });
    this.options.logger.info(
      { runId: run.runId, outcome: exited.outcome, exitCode: exited.exitCode, chunks: exited.seq },
      'run exited',
    );
    this.release(run);
    this.options.outbox.wake();
    this.startQueued();
  }

  private cancelQueued(run: Run): void {
    run.to('exited');
    this.options.announcer.settle(run);
    this.options.records.recordExit(this.options.spool.createRun(run.runId), {
      outcome: 'cancelled',
      exitCode: null,
      signal: null,
      startedAt: null,
      endedAt: this.options.now(),
      peakRssBytes: null,
      reason: 'cancelled before it started',
    });
    this.options.outbox.wake();
  }

  private release(run: Run): void {
    this.active.delete(run.runId);
    if (this.active.size > 0 || this.onDrained === undefined) return;
    const drained = this.onDrained;
    this.onDrained = undefined;
    drained();
  }
}
