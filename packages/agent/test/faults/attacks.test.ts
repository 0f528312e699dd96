/**
 * Issue 10, attacks on an agent by someone with broker access: forged payloads at scale,
 * captured commands replayed (in the window, after a restart, after the window), and
 * messages moved between topics. Every refused message must be counted under the reason the
 * protocol gives it, and nothing may spawn a process it should not.
 *
 * CI size by default; `EDGESTELLE_FAULT_SCALE=long` (npm run test:faults) sends more.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProtocolError, newId, Topics, type Command } from '@edgestelle/protocol';
import { openMessage, sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import { recordFault, sized, startMosquitto, tempDir, type Mosquitto, type TempDir } from '@edgestelle/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent, RejectionCode, RejectionCounts } from '../../src/agent.ts';
import { startTestAgent, testConfig } from '../agent-env.ts';
import { newNodeKey, TestMaster, until } from '../test-master.ts';

const topics = new Topics();
let dir: TempDir;
let broker: Mosquitto;
/** Someone with broker access and no key. */
let attacker: MqttClient;

beforeAll(async () => {
  dir = await tempDir();
  broker = await startMosquitto();
  attacker = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'attacker', reconnectPeriod: 0 });
});

afterAll(async () => {
  await attacker.endAsync(true);
  await broker[Symbol.asyncDispose]();
  await dir[Symbol.asyncDispose]();
});

/** QoS 1 through a bounded in-flight window, as every publisher here must. */
async function publishAll(
  client: MqttClient,
  count: number,
  message: (i: number) => { topic: string; payload: Buffer },
): Promise<void> {
  const window = 100;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const { topic, payload } = message(i);
      await client.publishAsync(topic, payload, { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

/** What an agent holding `key` must answer to `payload` on `topic`: the rejection code, or 'accepted'. */
function verdict(nodeId: string, key: SealingKey, topic: string, payload: Buffer, nowMs: number): string {
  try {
    const opened = openMessage(topics, topic, payload, {
      keyFor: (n, k) => (n === nodeId && k === key.keyId ? key.key : undefined),
      nowMs,
    });
    return opened.channel === 'cmd' && opened.nodeId === nodeId ? 'accepted' : 'misdirected';
  } catch (err) {
    if (isProtocolError(err)) return err.code;
    throw err;
  }
}

function delta(after: RejectionCounts, before: RejectionCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const code of Object.keys(after) as RejectionCode[]) {
    const d = (after[code] ?? 0) - (before[code] ?? 0);
    if (d !== 0) out[code] = d;
  }
  return out;
}

function lines(path: string): number {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0;
}

async function pingPong(master: TestMaster, nowMs = Date.now()): Promise<void> {
  const pongs = master.events.filter((e) => e.kind === 'pong').length;
  await master.send({ kind: 'ping', pingId: newId() }, { nowMs });
  await until(() => master.events.filter((e) => e.kind === 'pong').length > pongs, 'a pong after the attack');
}

describe('forged commands', () => {
  it(
    'refuses random, bit-flipped, truncated and wrong-key payloads on a command topic, counts each by reason and spawns nothing',
    async () => {
      const nodeId = 'node-forged';
      const key = newNodeKey();
      const master = await TestMaster.start(broker.url, nodeId, key);
      await using agent = await startTestAgent(testConfig(broker.url, join(dir.path, nodeId), key, nodeId));
      await until(() => agent.stats().connected, 'the agent to connect');
      const spawnLog = join(dir.path, 'forged-spawns');
      const topic = master.cmdTopic;
      const valid = (): Buffer =>
        sealMessage(topic, master.runCommand({ command: `echo spawn >> '${spawnLog}'`, timeoutMs: 10_000 }), key);

      const total = sized(10_000, 1_000_000);
      const template = valid();
      const forge = (i: number): Buffer => {
        switch (i % 5) {
          case 0: // Random bytes of any length up to a few KiB.
            return randomBytes(Math.floor(Math.random() * 4096));
          case 1: {
            // A valid envelope with one bit flipped, walking every byte and bit.
            const flip = Buffer.from(template);
            const at = Math.floor(i / 5) % flip.byteLength;
            flip[at] = (flip[at] ?? 0) ^ (1 << (Math.floor(i / 5 / flip.byteLength) % 8));
            return flip;
          }
          case 2: // Truncated at every length.
            return template.subarray(0, Math.floor(i / 5) % template.byteLength);
          case 3: // Sealed properly under a key id the node does not hold.
            return sealMessage(topic, master.runCommand({ command: 'true', timeoutMs: 1000 }), {
              keyId: 2 + (i % 1000),
              key: key.key,
            });
          default: // The right key id, the wrong key: a forger's guess.
            return sealMessage(topic, master.runCommand({ command: 'true', timeoutMs: 1000 }), {
              keyId: key.keyId,
              key: randomBytes(32),
            });
        }
      };
      const expected: Record<string, number> = {};
      const message = (i: number) => {
        const payload = forge(i);
        const code = verdict(nodeId, key, topic, payload, Date.now());
        expected[code] = (expected[code] ?? 0) + 1;
        return { topic, payload };
      };

      const before = agent.stats();
      const started = Date.now();
      await publishAll(attacker, total, message);
      const counted = (): number =>
        Object.values(delta(agent.stats().rejections, before.rejections)).reduce((a, b) => a + b, 0);
      await until(
        () => counted() >= total,
        `${total} rejections: ${JSON.stringify(agent.stats().rejections)}`,
        sized(120_000, 1_200_000),
      );
      const seconds = (Date.now() - started) / 1000;
      await pingPong(master);
      const after = agent.stats();
      recordFault({
        scenario: 'forged commands on a node topic (agent)',
        load: `${total} payloads`,
        faults: 'random, bit flips, truncation, unknown key id, wrong key',
        badInputs: total,
        lost: 0,
        doubled: 0,
        observed: { spawns: after.spawns - before.spawns, rejected: counted(), perSecond: Math.round(total / seconds) },
      });
      expect(expected.accepted).toBeUndefined();
      expect(delta(after.rejections, before.rejections)).toEqual(expected);
      expect(after.spawns - before.spawns).toBe(0);
      expect(existsSync(spawnLog)).toBe(false);
      await master.close();
    },
    sized(180_000, 1_800_000),
  );
});

describe('replayed commands', () => {
  it('runs 100 captured commands once each through 10 replays in the window, a restart, and replays after the window', async () => {
    const nodeId = 'node-replay';
    const key = newNodeKey();
    const master = await TestMaster.start(broker.url, nodeId, key);
    const clock = { offsetMs: 0 };
    const config = testConfig(broker.url, join(dir.path, nodeId), key, nodeId, { maxConcurrentRuns: '8' });
    const deps = { now: () => Date.now() + clock.offsetMs };
    let agent: Agent & AsyncDisposable = await startTestAgent(config, deps);
    await until(() => agent.stats().connected, 'the agent to connect');
    const spawnLog = join(dir.path, 'replay-spawns');
    const runs = 100;
    const replays = 10;
    const captured = Array.from({ length: runs }, () =>
      sealMessage(
        master.cmdTopic,
        master.runCommand({ command: `echo spawn >> '${spawnLog}'`, timeoutMs: 30_000 }),
        key,
      ),
    );
    const replay = (rounds: number) =>
      publishAll(attacker, runs * rounds, (i) => ({
        topic: master.cmdTopic,
        payload: captured[i % runs] ?? Buffer.alloc(0),
      }));

    await replay(1);
    await until(() => lines(spawnLog) === runs, 'every captured run to start once', 60_000);
    await replay(replays);
    await until(() => agent.stats().redeliveries >= runs * replays, 'every replay in the window answered', 60_000);
    expect(lines(spawnLog)).toBe(runs);

    // The ledger survives a restart: the same bytes replayed again run nothing.
    await agent.stop();
    agent = await startTestAgent(config, deps);
    await until(() => agent.stats().connected, 'the agent to reconnect');
    await replay(replays);
    await until(() => agent.stats().redeliveries >= runs * replays, 'every replay after the restart answered', 60_000);
    expect(lines(spawnLog)).toBe(runs);

    // Past the freshness window the captured bytes are stale, before the ledger is asked.
    // The stand-in master's acks are dated by the real clock and would be stale too.
    master.acking = false;
    // An ack already sent would be refused as a stale command once the clock moves: a ping
    // sent after it, on the same topic from the same client, is answered only after the agent
    // has taken every message before it.
    await pingPong(master);
    clock.offsetMs = 6 * 60_000;
    const staleBefore = agent.stats().rejections.command_stale ?? 0;
    await replay(replays);
    const stale = (): number => (agent.stats().rejections.command_stale ?? 0) - staleBefore;
    await until(() => stale() >= runs * replays, 'every replay after the window refused as stale', 60_000);
    // A fresh command, dated by the agent's clock, still gets through.
    await pingPong(master, Date.now() + clock.offsetMs);
    recordFault({
      scenario: 'captured commands replayed (agent)',
      load: `${runs} runs`,
      faults: `${replays} replays each in window, after restart, after window; 1 restart`,
      badInputs: runs * replays * 3,
      lost: 0,
      doubled: lines(spawnLog) - runs,
      observed: {
        spawns: lines(spawnLog),
        staleRefused: stale(),
        redeliveriesAfterRestart: agent.stats().redeliveries,
      },
    });
    expect(lines(spawnLog)).toBe(runs);
    expect(stale()).toBe(runs * replays);
    await agent[Symbol.asyncDispose]();
    await master.close();
  }, 180_000);
});

describe('reflected and misdirected messages', () => {
  it("refuses node A's commands on B's topic, commands sealed with A's key for B, and A's own events on A's command topic", async () => {
    const keyA = newNodeKey();
    const keyB = newNodeKey();
    const masterA = await TestMaster.start(broker.url, 'node-a', keyA);
    const masterB = await TestMaster.start(broker.url, 'node-b', keyB);
    await using agentA = await startTestAgent(testConfig(broker.url, join(dir.path, 'node-a'), keyA, 'node-a'));
    await using agentB = await startTestAgent(testConfig(broker.url, join(dir.path, 'node-b'), keyB, 'node-b'));
    await until(() => agentA.stats().connected && agentB.stats().connected, 'both agents to connect');

    // Capture what A really says, as a broker insider would see it.
    const spy = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'spy', reconnectPeriod: 0 });
    const capturedEvents: Buffer[] = [];
    spy.on('message', (_t, payload) => capturedEvents.push(Buffer.from(payload)));
    await spy.subscribeAsync([topics.node('node-a', 'evt'), topics.node('node-a', 'state')], { qos: 1 });
    const legit = masterA.runCommand({ command: 'echo legit', timeoutMs: 10_000 });
    await masterA.send(legit);
    await until(() => masterA.complete(legit.runId), 'the legitimate run');
    await until(() => capturedEvents.length >= 3, 'captured events of A (retained state, output, exited)');

    const spawnLog = join(dir.path, 'reflect-spawns');
    const n = sized(100, 1000);
    const commandsForA = Array.from({ length: n }, () =>
      masterA.runCommand({ command: `echo spawn >> '${spawnLog}'`, timeoutMs: 10_000 }),
    );
    const cmdA = topics.node('node-a', 'cmd');
    const cmdB = topics.node('node-b', 'cmd');
    const seal = (topic: string, command: Command, key: SealingKey) => sealMessage(topic, command, key);
    const onB = [
      // A's valid commands moved to B's topic.
      ...commandsForA.map((c) => ({ topic: cmdB, payload: seal(cmdA, c, keyA) })),
      // A taken over: its key seals commands for B's topic.
      ...commandsForA.map((c) => ({ topic: cmdB, payload: seal(cmdB, c, keyA) })),
    ];
    const onA = capturedEvents.map((payload) => ({ topic: cmdA, payload }));
    const beforeA = agentA.stats();
    const beforeB = agentB.stats();
    const all = [...onB, ...onA];
    await publishAll(attacker, all.length, (i) => all[i] ?? { topic: cmdA, payload: Buffer.alloc(0) });
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    await until(
      () =>
        sum(delta(agentB.stats().rejections, beforeB.rejections)) >= onB.length &&
        sum(delta(agentA.stats().rejections, beforeA.rejections)) >= onA.length,
      `every reflected message refused: A ${JSON.stringify(agentA.stats().rejections)} B ${JSON.stringify(agentB.stats().rejections)}`,
    );
    await pingPong(masterA);
    await pingPong(masterB);
    const accepted = masterB.events.filter((e) => e.kind === 'accepted').length;
    recordFault({
      scenario: 'commands moved between nodes, events reflected (agent)',
      load: `${n} commands, ${onA.length} events`,
      faults: "A's commands on B, A's key for B, A's events on A's cmd",
      badInputs: onB.length + onA.length,
      lost: 0,
      doubled: 0,
      observed: {
        acceptedByB: accepted,
        spawnsA: agentA.stats().spawns - beforeA.spawns,
        spawnsB: agentB.stats().spawns,
      },
    });
    expect(delta(agentB.stats().rejections, beforeB.rejections)).toEqual({ envelope_auth_failed: onB.length });
    expect(delta(agentA.stats().rejections, beforeA.rejections)).toEqual({ envelope_auth_failed: onA.length });
    expect(accepted).toBe(0);
    expect(agentB.stats().spawns).toBe(0);
    expect(agentA.stats().spawns - beforeA.spawns).toBe(0);
    expect(existsSync(spawnLog)).toBe(false);
    await spy.endAsync(true);
    await masterA.close();
    await masterB.close();
  }, 120_000);
});
