import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newId, type Command } from '@edgestelle/protocol';
import { encodeBody, sealEnvelope } from '@edgestelle/protocol/envelope';
import { startMosquitto, tempDir, type Mosquitto, type TempDir } from '@edgestelle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent, RejectionCode } from '../src/agent.ts';
import { startTestAgent, testConfig } from './agent-env.ts';
import { newNodeKey, TestMaster, until } from './test-master.ts';

const key = newNodeKey();
const nodeId = 'node-commands';
let dir: TempDir;
let broker: Mosquitto;
let master: TestMaster;
let agent: Agent & AsyncDisposable;

beforeAll(async () => {
  dir = await tempDir();
  broker = await startMosquitto();
  master = await TestMaster.start(broker.url, nodeId, key);
  agent = await startTestAgent(
    testConfig(broker.url, join(dir.path, 'state'), key, nodeId, {
      maxConcurrentRuns: '1',
      heartbeatIntervalMs: '1000',
      tags: 'site=lab,role=test',
    }),
    {
      loadPty: () => Promise.resolve(undefined),
    },
  );
  await until(() => agent.stats().connected, 'the agent to connect');
});

afterAll(async () => {
  await agent[Symbol.asyncDispose]();
  await master.close();
  await broker[Symbol.asyncDispose]();
  await dir[Symbol.asyncDispose]();
});

function spawnScript(log: string): string {
  return `echo spawn >> '${log}'`;
}

function eventsOf(runId: string, kind?: string): { kind: string; code?: string }[] {
  return master.events.filter((e) => e.runId === runId && (kind === undefined || e.kind === kind));
}

describe('agent state', () => {
  it('publishes its retained state with facts on connect and on every heartbeat', async () => {
    await until(() => master.states.some((s) => s.online && s.beat >= 1), 'a heartbeat');
    const latest = master.states.filter((s) => s.online).at(-1);
    expect(latest).toMatchObject({
      connectionSeq: 1,
      facts: { tags: { site: 'lab', role: 'test' }, maxConcurrentRuns: 1 },
    });
  });
});

describe('agent commands', () => {
  it('runs a run delivered 5 times exactly once and answers every delivery', async () => {
    const log = join(dir.path, 'redelivered');
    const command = master.runCommand({ command: `${spawnScript(log)}; sleep 0.3; echo done`, timeoutMs: 30_000 });
    for (let i = 0; i < 5; i += 1) await master.send(command);
    await until(() => master.complete(command.runId), 'the run to finish');
    // The first delivery is answered by `started` (and by `accepted` only if the start was slow),
    // each repeat by `accepted`.
    await until(() => eventsOf(command.runId, 'accepted').length >= 4, 'four answers to the repeats');
    expect(eventsOf(command.runId, 'started').length).toBeGreaterThanOrEqual(1);
    const answers = eventsOf(command.runId, 'accepted').length;
    // Once more after it finished and was acknowledged: still answered, still not run.
    await master.send(command);
    await until(() => eventsOf(command.runId, 'accepted').length === answers + 1, 'the sixth answer');
    expect(readFileSync(log, 'utf8')).toBe('spawn\n');
    expect(master.output(command.runId).bytes.toString()).toBe('done\n');
    expect(agent.stats().redeliveries).toBeGreaterThanOrEqual(5);
  });

  it('rejects bad, forged, replayed-stale, future, misdirected and unknown-key commands, counts them and runs nothing', async () => {
    const log = join(dir.path, 'never');
    const run = (): Command => master.runCommand({ command: spawnScript(log), timeoutMs: 10_000 });
    const before = { ...agent.stats().rejections };
    await master.publishRaw(master.cmdTopic, Buffer.from('not an envelope at all'));
    // A run sealed with another key (forged).
    await master.send(run(), { key: newNodeKey() });
    // The right key under a key id the agent does not hold.
    await master.send(run(), { key: { keyId: 99, key: key.key } });
    // Captured long ago and replayed now, and one dated far ahead.
    await master.send(run(), { nowMs: Date.now() - 10 * 60_000 });
    await master.send(run(), { nowMs: Date.now() + 10 * 60_000 });
    // Sealed for another node's topic and moved to ours.
    await master.send(run(), { topic: master.topics.node('node-other', 'cmd') });
    // Sealed properly, but the body is not a valid command.
    await master.publishRaw(
      master.cmdTopic,
      sealEnvelope(master.cmdTopic, encodeBody({ kind: 'run', runId: 'nope', spec: {} }), key),
    );
    const delta = (code: RejectionCode): number => (agent.stats().rejections[code] ?? 0) - (before[code] ?? 0);
    await until(
      () =>
        delta('envelope_too_short') === 1 &&
        delta('envelope_auth_failed') === 2 &&
        delta('envelope_unknown_key') === 1 &&
        delta('command_stale') === 1 &&
        delta('command_from_future') === 1 &&
        delta('body_invalid') === 1,
      `every rejection to be counted: ${JSON.stringify(agent.stats().rejections)}`,
    );
    // A valid ping afterwards shows the agent kept going.
    const pongs = master.events.filter((e) => e.kind === 'pong').length;
    await master.send({ kind: 'ping', pingId: newId() });
    await until(() => master.events.filter((e) => e.kind === 'pong').length === pongs + 1, 'a pong');
    expect(existsSync(log)).toBe(false);
  });

  it('rejects a run past its deadline and a PTY run without node-pty, and answers a re-delivery the same way', async () => {
    const log = join(dir.path, 'rejected');
    const expired = master.runCommand(
      { command: spawnScript(log), timeoutMs: 10_000 },
      { deadlineAt: Date.now() - 1000 },
    );
    const pty = master.runCommand({ command: spawnScript(log), pty: true, timeoutMs: 10_000 });
    await master.send(expired);
    await master.send(pty);
    await master.send(pty);
    await until(() => eventsOf(expired.runId, 'rejected').length === 1, 'the expired rejection');
    await until(() => eventsOf(pty.runId, 'rejected').length === 2, 'both PTY rejections');
    expect(eventsOf(expired.runId)[0]).toMatchObject({ code: 'expired' });
    expect(eventsOf(pty.runId).map((e) => e.code)).toEqual(['pty_unavailable', 'pty_unavailable']);
    expect(existsSync(log)).toBe(false);
  });

  it('starts waiting runs first in, first out, and rejects one whose deadline passes while it waits', async () => {
    const log = join(dir.path, 'fifo');
    const runs = ['a', 'b', 'c'].map((name, i) =>
      master.runCommand({ command: `echo ${name} >> '${log}'; sleep ${i === 0 ? 2 : 0}`, timeoutMs: 30_000 }),
    );
    const late = master.runCommand(
      { command: `echo late >> '${log}'`, timeoutMs: 30_000 },
      { deadlineAt: Date.now() + 1000 },
    );
    const [first, ...rest] = runs;
    if (first === undefined) throw new Error('no runs');
    await master.send(first);
    await master.send(late);
    for (const run of rest) await master.send(run);
    await until(() => runs.every((run) => master.complete(run.runId)), 'all three runs');
    await until(() => eventsOf(late.runId, 'rejected').length === 1, 'the late run to be rejected');
    expect(readFileSync(log, 'utf8')).toBe('a\nb\nc\n');
    expect(eventsOf(late.runId).map((e) => e.kind)).toEqual(['accepted', 'rejected']);
    expect(eventsOf(late.runId, 'rejected')[0]).toMatchObject({ code: 'expired' });
  });

  it('cancels a running run and a queued one (one slot), in order', async () => {
    const first = master.runCommand({ command: 'echo started; sleep 300', killGraceMs: 200, timeoutMs: 60_000 });
    const second = master.runCommand({ command: 'echo second', timeoutMs: 60_000 });
    await master.send(first);
    await master.send(second);
    await until(() => master.output(first.runId).bytes.toString() === 'started\n', 'the first run to print');
    await until(() => agent.stats().runningRuns === 1 && agent.stats().queuedRuns === 1, 'the second run to wait');
    await master.send({ kind: 'cancel', runId: second.runId });
    await master.send({ kind: 'cancel', runId: first.runId });
    await until(() => master.complete(first.runId) && master.complete(second.runId), 'both runs to end');
    expect(master.run(second.runId).exited).toMatchObject({ outcome: 'cancelled', startedAt: null, seq: 0 });
    expect(master.run(first.runId).exited).toMatchObject({ outcome: 'cancelled', signal: 'SIGTERM' });
  });
});
