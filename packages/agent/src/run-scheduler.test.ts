import { join } from 'node:path';
import { newId, runSpecSchema, type AgentEvent, type RunCommand } from '@edgestelle/protocol';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Execution, ExecutionHandlers, ExecutionRequest, ExecutionResult, RunExecutor } from './executor.ts';
import { Ledger } from './ledger.ts';
import { Outbox } from './outbox.ts';
import { RunAnnouncer } from './run-announcer.ts';
import { Run } from './run-lifecycle.ts';
import { RunRecords } from './run-records.ts';
import { RunScheduler } from './run-scheduler.ts';
import { Spool } from './spool.ts';
import { AgentCounters } from './stats.ts';

/**
 * The scheduler on a real spool and ledger, with an executor the test drives by hand (the
 * seam the fleet benchmark uses): each start waits until the test lets it succeed or fail,
 * and each process "exits" when the test says so.
 */
interface PendingStart {
  readonly request: ExecutionRequest;
  readonly handlers: ExecutionHandlers;
  succeed(): TestExecution;
  fail(message: string): void;
}

interface TestExecution extends Execution {
  readonly stops: string[];
}

class HandExecutor implements RunExecutor {
  readonly pending: PendingStart[] = [];

  pty(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  ptyKind(): Promise<'none'> {
    return Promise.resolve('none');
  }

  runAsAvailable(): boolean {
    return false;
  }

  refuse(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  start(request: ExecutionRequest, handlers: ExecutionHandlers): Promise<Execution> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        request,
        handlers,
        succeed: () => {
          const execution: TestExecution = {
            pid: 4242,
            startedAt: Date.now(),
            stops: [],
            stop: (why) => execution.stops.push(why),
          };
          resolve(execution);
          return execution;
        },
        fail: (message) => reject(new Error(message)),
      });
    });
  }

  /** The start the scheduler asked for `runId`. */
  startOf(runId: string): PendingStart {
    const start = this.pending.find((p) => p.request.runId === runId);
    if (start === undefined) throw new Error(`no start asked for ${runId}`);
    return start;
  }
}

const exitResult = (outcome: ExecutionResult['outcome']): ExecutionResult => ({
  outcome,
  exitCode: outcome === 'succeeded' ? 0 : null,
  signal: null,
  startedAt: 1,
  endedAt: 2,
  peakRssBytes: null,
});

/** Lets the scheduler's awaited steps run: microtasks drain before the next turn. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let dir: TempDir;
let spool: Spool;
let ledger: Ledger;
let executor: HandExecutor;
let events: AgentEvent[];
let stopping: boolean;
let nowMs: number;
let scheduler: RunScheduler;

function command(deadlineAt = nowMs + 60_000): RunCommand {
  return {
    kind: 'run',
    runId: newId(),
    jobId: newId(),
    deadlineAt,
    spec: runSpecSchema.parse({ command: 'true', timeoutMs: 10_000 }),
  };
}

/** A run as admission hands it over: its `accepted` line written and on disk. */
function recorded(cmd = command()): Run {
  const run = new Run(cmd);
  run.to('recorded');
  ledger.put({ runId: cmd.runId, jobId: cmd.jobId, deadlineAt: cmd.deadlineAt, receivedAt: nowMs, state: 'accepted' });
  return run;
}

beforeEach(async () => {
  dir = await tempDir();
  nowMs = Date.now();
  const now = (): number => nowMs;
  const logger = pino({ level: 'silent' });
  spool = new Spool({ dir: join(dir.path, 'spool'), maxBytes: 1024 * 1024 });
  ledger = new Ledger({ path: join(dir.path, 'ledger.jsonl'), now });
  executor = new HandExecutor();
  events = [];
  stopping = false;
  const publishEvent = (event: AgentEvent): void => {
    events.push(event);
  };
  // Never connected: what it would send stays in the spool, where the tests read it.
  const outbox = new Outbox({ spool, publish: () => Promise.resolve(), logger });
  const records = new RunRecords({ spool, ledger, logger, now, publishEvent });
  scheduler = new RunScheduler({
    maxConcurrentRuns: 1,
    executor,
    spool,
    ledger,
    outbox,
    records,
    announcer: new RunAnnouncer(publishEvent),
    counters: new AgentCounters(),
    logger,
    now,
    chunkMaxBytes: 1024,
    chunkFlushMs: 5,
    stopping: () => stopping,
  });
});

afterEach(async () => {
  spool.close();
  ledger.close();
  await dir[Symbol.asyncDispose]();
});

describe('RunScheduler', () => {
  it('takes a run from its slot through running to exited, with its ledger line and spool along', async () => {
    const run = recorded();
    scheduler.enqueue(run);
    expect(run.state).toBe('starting');
    const execution = executor.startOf(run.runId).succeed();
    await nextTurn();
    expect(run.state).toBe('running');
    expect(ledger.get(run.runId)).toMatchObject({ state: 'running', pid: execution.pid });
    expect(scheduler.runningRuns).toBe(1);

    const { handlers } = executor.startOf(run.runId);
    handlers.onOutput('stdout', Buffer.from('hello\n'));
    handlers.onExit(exitResult('succeeded'));
    expect(run.state).toBe('exited');
    expect(ledger.get(run.runId)).toMatchObject({ state: 'exited', exited: { outcome: 'succeeded', seq: 1 } });
    expect(spool.get(run.runId)?.exited).toMatchObject({ outcome: 'succeeded', seq: 1, outputBytes: 6 });
    expect(scheduler.runningRuns).toBe(0);
    // A last read after the exit (a PTY does that) is dropped: the run's record is closed.
    handlers.onOutput('stdout', Buffer.from('late\n'));
    expect(spool.get(run.runId)?.chunkCount).toBe(1);
  });

  it('keeps runs waiting for the one slot, first in, first out, and ends a cancelled waiting run at once', async () => {
    const [first, second, third] = [recorded(), recorded(), recorded()];
    if (first === undefined || second === undefined || third === undefined) throw new Error('no runs');
    for (const run of [first, second, third]) scheduler.enqueue(run);
    expect([first.state, second.state, third.state]).toEqual(['starting', 'queued', 'queued']);
    expect(scheduler.queuedRuns).toBe(2);

    scheduler.cancel(second.runId);
    expect(second.state).toBe('exited');
    expect(second.announceTimer).toBeUndefined();
    expect(spool.get(second.runId)?.exited).toMatchObject({ outcome: 'cancelled', startedAt: null, seq: 0 });
    expect(ledger.get(second.runId)?.state).toBe('exited');

    executor.startOf(first.runId).succeed();
    await nextTurn();
    executor.startOf(first.runId).handlers.onExit(exitResult('succeeded'));
    expect(third.state).toBe('starting');
    expect(executor.pending.map((p) => p.request.runId)).toEqual([first.runId, third.runId]);
  });

  it('stops a run cancelled while its process was starting as soon as it runs', async () => {
    const run = recorded();
    scheduler.enqueue(run);
    scheduler.cancel(run.runId);
    expect(run.state).toBe('cancelling');
    // A second cancel changes nothing.
    scheduler.cancel(run.runId);
    expect(run.state).toBe('cancelling');
    const execution = executor.startOf(run.runId).succeed();
    await nextTurn();
    expect(run.state).toBe('running');
    expect(execution.stops).toEqual(['cancelled']);
    executor.startOf(run.runId).handlers.onExit(exitResult('cancelled'));
    expect(spool.get(run.runId)?.exited).toMatchObject({ outcome: 'cancelled' });
  });

  it('stops a running run on cancel, and says nothing for a run it does not hold', async () => {
    const run = recorded();
    scheduler.enqueue(run);
    const execution = executor.startOf(run.runId).succeed();
    await nextTurn();
    scheduler.cancel(run.runId);
    scheduler.cancel(newId());
    expect(execution.stops).toEqual(['cancelled']);
    expect(run.state).toBe('running');
  });

  it('rejects a run whose spawn failed, and gives its slot to the next', async () => {
    const [failing, next] = [recorded(), recorded()];
    if (failing === undefined || next === undefined) throw new Error('no runs');
    scheduler.enqueue(failing);
    scheduler.enqueue(next);
    executor.startOf(failing.runId).fail('fork failed');
    await nextTurn();
    expect(failing.state).toBe('rejected');
    expect(ledger.get(failing.runId)).toMatchObject({
      state: 'rejected',
      rejection: { code: 'spawn_failed', reason: 'fork failed' },
    });
    expect(events).toContainEqual({
      kind: 'rejected',
      runId: failing.runId,
      code: 'spawn_failed',
      reason: 'fork failed',
    });
    expect(next.state).toBe('starting');
  });

  it('rejects a run whose deadline passed while it waited', async () => {
    const first = recorded();
    const late = recorded(command(nowMs + 1000));
    scheduler.enqueue(first);
    scheduler.enqueue(late);
    nowMs += 1001;
    executor.startOf(first.runId).succeed();
    await nextTurn();
    executor.startOf(first.runId).handlers.onExit(exitResult('succeeded'));
    expect(late.state).toBe('rejected');
    expect(ledger.get(late.runId)).toMatchObject({ state: 'rejected', rejection: { code: 'expired' } });
    expect(executor.pending).toHaveLength(1);
  });

  it('on stop leaves waiting runs to the next start, stops running ones, and resolves once they exited', async () => {
    const [running, waiting] = [recorded(), recorded()];
    if (running === undefined || waiting === undefined) throw new Error('no runs');
    scheduler.enqueue(running);
    scheduler.enqueue(waiting);
    const execution = executor.startOf(running.runId).succeed();
    await nextTurn();

    stopping = true;
    let drained = false;
    const interrupted = scheduler.interruptAll().then(() => {
      drained = true;
    });
    expect(waiting.state).toBe('interrupted');
    expect(ledger.get(waiting.runId)?.state).toBe('accepted');
    expect(execution.stops).toEqual(['interrupted']);
    await nextTurn();
    expect(drained).toBe(false);
    executor.startOf(running.runId).handlers.onExit(exitResult('interrupted'));
    await interrupted;
    expect(running.state).toBe('exited');

    // A run whose ledger line reached the disk during the stop is not queued either.
    const late = recorded();
    scheduler.enqueue(late);
    expect(late.state).toBe('interrupted');
    expect(scheduler.queuedRuns).toBe(0);
  });

  it('stops a run whose process appears while the agent stops', async () => {
    const run = recorded();
    scheduler.enqueue(run);
    stopping = true;
    const interrupted = scheduler.interruptAll();
    const execution = executor.startOf(run.runId).succeed();
    await nextTurn();
    expect(execution.stops).toEqual(['interrupted']);
    executor.startOf(run.runId).handlers.onExit(exitResult('interrupted'));
    await interrupted;
  });

  it('refuses an exit reported twice, or before the start resolved', async () => {
    const run = recorded();
    scheduler.enqueue(run);
    const { handlers } = executor.startOf(run.runId);
    expect(() => handlers.onExit(exitResult('succeeded'))).toThrow(/cannot go from 'starting' to 'exited'/);
    executor.startOf(run.runId).succeed();
    await nextTurn();
    handlers.onExit(exitResult('succeeded'));
    expect(() => handlers.onExit(exitResult('succeeded'))).toThrow(/cannot go from 'exited' to 'exited'/);
    expect(spool.get(run.runId)?.exited).toMatchObject({ outcome: 'succeeded' });
  });
});
