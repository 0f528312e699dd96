import { join } from 'node:path';
import { newId } from '@edgestelle/protocol';
import { startMosquitto, tempDir, type Mosquitto, type TempDir } from '@edgestelle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionRequest, RunExecutor } from '../src/index.ts';
import { startTestAgent, testConfig } from './agent-env.ts';
import { newNodeKey, TestMaster, until } from './test-master.ts';

/**
 * The `executor` dep (the fleet benchmark's seam): an injected executor is the one the agent
 * starts runs with, and what it reports travels the usual path — spool, outbox, acks.
 */

const key = newNodeKey();
const nodeId = 'node-executor-seam';
let dir: TempDir;
let broker: Mosquitto;
let master: TestMaster;
const started: ExecutionRequest[] = [];

/** Whether the master has heard `kind` about the run. */
const heard = (runId: string, kind: string): boolean =>
  master.events.some((e) => 'runId' in e && e.runId === runId && e.kind === kind);

/**
 * Answers every run without a process: its start returns once `startsAfter` resolves, then it
 * prints `output` and succeeds once `endsAfter` resolves (by default as soon as the agent has
 * the execution the start returned).
 */
function answering(
  output: (request: ExecutionRequest) => string,
  startsAfter: (request: ExecutionRequest) => Promise<void> = () => Promise.resolve(),
  endsAfter: (request: ExecutionRequest) => Promise<void> = () => new Promise((resolve) => setImmediate(resolve)),
): RunExecutor {
  return {
    pty: () => Promise.resolve(undefined),
    ptyKind: () => Promise.resolve('none'),
    runAsAvailable: () => false,
    refuse: () => Promise.resolve(undefined),
    start: async (request, handlers) => {
      started.push(request);
      await startsAfter(request);
      const startedAt = Date.now();
      void endsAfter(request).then(() => {
        handlers.onOutput('stdout', Buffer.from(output(request)));
        handlers.onExit({
          outcome: 'succeeded',
          exitCode: 0,
          signal: null,
          startedAt,
          endedAt: Date.now(),
          peakRssBytes: null,
        });
      });
      return { pid: 1, startedAt, stop: () => undefined };
    },
  };
}

/** Answers every run at once with its command echoed back. */
const echoExecutor = answering((request) => `${request.spec.command ?? ''}\n`);

beforeAll(async () => {
  dir = await tempDir();
  broker = await startMosquitto();
  master = await TestMaster.start(broker.url, nodeId, key);
});

afterAll(async () => {
  await master.close();
  await broker[Symbol.asyncDispose]();
  await dir[Symbol.asyncDispose]();
});

describe('executor dep', () => {
  it('starts runs with the injected executor and delivers what it reports', async () => {
    await using agent = await startTestAgent(testConfig(broker.url, join(dir.path, 'state'), key, nodeId), {
      executor: echoExecutor,
    });
    await until(() => agent.stats().connected, 'the agent to connect');
    const command = master.runCommand({ command: 'injected hello', timeoutMs: 10_000 });
    await master.send(command);
    await until(() => master.complete(command.runId), 'the run to be delivered');

    expect(started.map((request) => request.runId)).toEqual([command.runId]);
    expect(master.output(command.runId).bytes.toString('utf8')).toBe('injected hello\n');
    expect(master.run(command.runId).exited).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(agent.stats().spawns).toBe(1);
    // Over within 100 ms: `exited` says it was accepted and started, so neither goes out.
    const kinds = master.events.filter((e) => 'runId' in e && e.runId === command.runId).map((e) => e.kind);
    expect(kinds).toContain('exited');
    expect(kinds).not.toContain('accepted');
    expect(kinds).not.toContain('started');
    // Regression: mqtt.js answers a PUBACK with a null error, which once counted as a failed publish.
    await until(() => agent.stats().published >= 2, `PUBACKs counted, published=${agent.stats().published}`, 3000);
  });

  // The runs go on until the master has heard what the agent says of a run still going after
  // 100 ms: a start that takes that long is `accepted` first.
  it.each([
    { slowStart: false, kinds: ['started', 'exited'] },
    { slowStart: true, kinds: ['accepted', 'started', 'exited'] },
  ])('announces a run still going after 100 ms (slow start: $slowStart): $kinds', async ({ slowStart, kinds }) => {
    const slow = answering(
      () => 'done\n',
      (request) => (slowStart ? until(() => heard(request.runId, 'accepted'), 'accepted', 10_000) : Promise.resolve()),
      (request) => until(() => heard(request.runId, 'started'), 'started', 10_000),
    );
    await using agent = await startTestAgent(
      testConfig(broker.url, join(dir.path, `state-slow-${String(slowStart)}`), key, nodeId),
      {
        executor: slow,
      },
    );
    await until(() => agent.stats().connected, 'the agent to connect');
    const command = master.runCommand({ command: 'sleep', timeoutMs: 10_000 });
    await master.send(command);
    await until(() => master.complete(command.runId), 'the run to be delivered');
    const ofRun = master.events.filter((e) => 'runId' in e && e.runId === command.runId).map((e) => e.kind);
    expect(ofRun).toEqual(kinds);
    expect(master.output(command.runId).bytes.toString('utf8')).toBe('done\n');
    expect(master.run(command.runId).exited).toMatchObject({ outcome: 'succeeded' });
  });

  it('says accepted while a start takes long, and refuses the run when the start then fails', async () => {
    const failingStart: RunExecutor = {
      ...echoExecutor,
      start: async (request) => {
        await until(() => heard(request.runId, 'accepted'), 'accepted', 10_000);
        throw new Error('fork failed: out of memory');
      },
    };
    await using agent = await startTestAgent(testConfig(broker.url, join(dir.path, 'state-fail'), key, nodeId), {
      executor: failingStart,
    });
    await until(() => agent.stats().connected, 'the agent to connect');
    const command = master.runCommand({ command: 'true', timeoutMs: 10_000 });
    await master.send(command);
    const ofRun = () => master.events.filter((e) => 'runId' in e && e.runId === command.runId);
    await until(() => ofRun().some((e) => e.kind === 'rejected'), 'the run refused');
    expect(ofRun()).toMatchObject([{ kind: 'accepted' }, { kind: 'rejected', code: 'spawn_failed' }]);
  });

  it('stops a run whose cancel came while its process was still being started', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stops: string[] = [];
    let startedRequest: ((request: ExecutionRequest) => void) | undefined;
    const requested = new Promise<ExecutionRequest>((resolve) => (startedRequest = resolve));
    /** Starts only when the test says so, then runs until stopped. */
    const slowStart: RunExecutor = {
      ...echoExecutor,
      start: async (request, handlers) => {
        startedRequest?.(request);
        await gate;
        const startedAt = Date.now();
        return {
          pid: 2,
          startedAt,
          stop: (why) => {
            stops.push(why);
            setImmediate(() =>
              handlers.onExit({
                outcome: why,
                exitCode: null,
                signal: 'SIGTERM',
                startedAt,
                endedAt: Date.now(),
                peakRssBytes: null,
              }),
            );
          },
        };
      },
    };
    await using agent = await startTestAgent(testConfig(broker.url, join(dir.path, 'state-cancel'), key, nodeId), {
      executor: slowStart,
    });
    await until(() => agent.stats().connected, 'the agent to connect');
    const command = master.runCommand({ command: 'sleep 60', timeoutMs: 60_000 });
    await master.send(command);
    await requested;
    await master.send({ kind: 'cancel', runId: command.runId });
    // The cancel is handled (commands are taken in order) before the start is let go.
    const pongs = master.events.filter((e) => e.kind === 'pong').length;
    await master.send({ kind: 'ping', pingId: newId() });
    await until(
      () => master.events.filter((e) => e.kind === 'pong').length > pongs,
      'the ping after the cancel answered',
    );
    release();
    await until(() => master.complete(command.runId), 'the run to end and be delivered');
    expect(stops).toEqual(['cancelled']);
    expect(master.run(command.runId).exited).toMatchObject({ outcome: 'cancelled' });
  });
});
