import { setTimeout as sleep } from 'node:timers/promises';
import { Topics } from '@edgestelle/protocol';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.ts';
import type { MqttLink, OnLinkMessage } from './link.ts';

const topics = new Topics();
/** Long enough for anything not held back to have gone through many times over. */
const NO_COMPLETION_WITHIN_MS = 300;

interface Received {
  topic: string;
  payload: string;
}

interface Fixture {
  broker: EmbeddedBroker;
  link: MqttLink | undefined;
  clients: mqtt.MqttClient[];
}
const fixtures: Fixture[] = [];

/** A broker whose nodes log in with `pw-<nodeId>`; agents are raw MQTT clients. */
async function startBroker(): Promise<EmbeddedBroker> {
  const broker = await startEmbeddedBroker({
    host: '127.0.0.1',
    port: 0,
    topics,
    masterPassword: 'link-test-secret',
    checkNode: (nodeId, password) => Promise.resolve(password === `pw-${nodeId}`),
    logger: pino({ level: 'silent' }),
  });
  fixtures.push({ broker, link: undefined, clients: [] });
  return broker;
}

async function openLink(broker: EmbeddedBroker, onMessage: OnLinkMessage, logLines: string[] = []): Promise<MqttLink> {
  const link = await broker.link({
    logger: pino({ level: 'error' }, { write: (line: string) => void logLines.push(line) }),
    onMessage,
  });
  const fixture = fixtures.find((f) => f.broker === broker);
  if (fixture !== undefined) fixture.link = link;
  return link;
}

async function setUp(onMessage: OnLinkMessage, logLines: string[] = []) {
  const broker = await startBroker();
  return { broker, link: await openLink(broker, onMessage, logLines) };
}

async function agent(broker: EmbeddedBroker, nodeId: string): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
    protocolVersion: 4,
    clientId: nodeId,
    username: nodeId,
    password: `pw-${nodeId}`,
    reconnectPeriod: 0,
  });
  fixtures.find((f) => f.broker === broker)?.clients.push(client);
  return client;
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

afterEach(async () => {
  for (const { broker, link, clients } of fixtures.splice(0)) {
    for (const client of clients) client.end(true);
    await link?.close();
    await broker.close();
  }
});

describe('in-process link to the embedded broker', () => {
  it("completes Aedes's publish only once onMessage resolved it, handing messages over one at a time in order", async () => {
    const received: Received[] = [];
    const first = gate();
    let active = 0;
    let maxActive = 0;
    const { broker, link } = await setUp(async (topic, payload) => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      received.push({ topic, payload: payload.toString() });
      if (received.length === 1) await first.wait;
      active -= 1;
    });
    const one = await agent(broker, 'n-1');
    const two = await agent(broker, 'n-2');
    const held = topics.node('n-1', 'evt');
    await one.publishAsync(held, 'held', { qos: 1 });
    await until(() => received.length === 1);
    const sent = Array.from({ length: 50 }, (_, i) => [
      one.publishAsync(topics.node('n-1', 'evt'), `one-${i}`, { qos: 1 }),
      two.publishAsync(topics.node('n-2', 'state'), `two-${i}`, { qos: 1 }),
    ]).flat();
    // A publish resolves when Aedes's does (the broker's own completion, without a client's
    // PUBACK in between): held behind the message ingest has not taken yet.
    let probed = false;
    const probe = link.publish(topics.node('n-3', 'evt'), Buffer.from('probe')).then(() => {
      probed = true;
    });
    await Promise.all(sent);
    await sleep(NO_COMPLETION_WITHIN_MS);
    expect(probed).toBe(false);
    expect(received).toHaveLength(1);

    first.open();
    await probe;
    await until(() => received.length === 102);
    expect(maxActive).toBe(1);
    expect(received[0]).toEqual({ topic: held, payload: 'held' });
    expect(received).toContainEqual({ topic: topics.node('n-3', 'evt'), payload: 'probe' });
    // Both `+` filters matched; each agent's messages kept their order.
    const from = (nodeId: string, channel: 'evt' | 'state'): string[] =>
      received.filter((m) => m.topic === topics.node(nodeId, channel)).map((m) => m.payload);
    expect(from('n-1', 'evt')).toEqual(['held', ...Array.from({ length: 50 }, (_, i) => `one-${i}`)]);
    expect(from('n-2', 'state')).toEqual(Array.from({ length: 50 }, (_, i) => `two-${i}`));
  });

  it('publishes commands QoS 1, not retained, to the agent', async () => {
    const { broker, link } = await setUp(() => Promise.resolve());
    const one = await agent(broker, 'n-1');
    await one.subscribeAsync(topics.node('n-1', 'cmd'), { qos: 1 });
    const got: Array<{ payload: string; qos: number; retain: boolean }> = [];
    one.on('message', (_topic, payload, packet) =>
      got.push({ payload: payload.toString(), qos: packet.qos, retain: packet.retain }),
    );
    // More than the window: the rest wait for a slot instead of failing.
    await Promise.all(
      Array.from({ length: 250 }, (_, i) => link.publish(topics.node('n-1', 'cmd'), Buffer.from(`cmd-${i}`))),
    );
    await until(() => got.length === 250);
    expect(got[0]).toEqual({ payload: 'cmd-0', qos: 1, retain: false });
    expect(new Set(got.map((m) => m.payload)).size).toBe(250);
    expect(got.every((m) => m.qos === 1 && !m.retain)).toBe(true);
  });

  it('gets the retained state of agents that connected before it opened', async () => {
    const broker = await startBroker();
    const early = await agent(broker, 'n-1');
    await early.publishAsync(topics.node('n-1', 'state'), 'online', { qos: 1, retain: true });
    const received: Received[] = [];
    await openLink(broker, (topic, payload) => {
      received.push({ topic, payload: payload.toString() });
      return Promise.resolve();
    });
    await until(() => received.length === 1);
    expect(received).toEqual([{ topic: topics.node('n-1', 'state'), payload: 'online' }]);
  });

  it('hands nothing over once closed, not even what was waiting its turn', async () => {
    const received: string[] = [];
    const first = gate();
    const { broker, link } = await setUp(async (_topic, payload) => {
      received.push(payload.toString());
      if (received.length === 1) await first.wait;
    });
    const one = await agent(broker, 'n-1');
    await one.publishAsync(topics.node('n-1', 'evt'), 'taken', { qos: 1 });
    await one.publishAsync(topics.node('n-1', 'evt'), 'waiting', { qos: 1 });
    await until(() => received.length === 1);
    expect(link.connected()).toBe(true);

    await link.close();
    expect(link.connected()).toBe(false);
    first.open();
    await one.publishAsync(topics.node('n-1', 'evt'), 'after', { qos: 1 });
    await sleep(NO_COMPLETION_WITHIN_MS);
    expect(received).toEqual(['taken']);
    await expect(link.publish(topics.node('n-1', 'cmd'), Buffer.from('late'))).rejects.toMatchObject({
      code: 'unavailable',
    });
    // What waited was let go: the broker still delivers.
    await one.subscribeAsync(topics.node('n-1', 'cmd'), { qos: 1 });
    const got = new Promise<string>((resolve) => one.once('message', (_topic, payload) => resolve(payload.toString())));
    const other = await broker.link({ logger: pino({ level: 'silent' }), onMessage: () => Promise.resolve() });
    await other.publish(topics.node('n-1', 'cmd'), Buffer.from('still here'));
    expect(await got).toBe('still here');
    await other.close();
  });

  it('logs a rejected onMessage and goes on with the next message, crashing nothing', async () => {
    const thrown: unknown[] = [];
    const record = (err: unknown): void => void thrown.push(err);
    process.on('uncaughtException', record);
    process.on('unhandledRejection', record);
    try {
      const received: string[] = [];
      const logLines: string[] = [];
      const { broker } = await setUp((_topic, payload) => {
        received.push(payload.toString());
        return payload.toString() === 'fails' ? Promise.reject(new Error('database gone')) : Promise.resolve();
      }, logLines);
      const one = await agent(broker, 'n-1');
      // As over TCP, where the broker had acknowledged it already: the agent's outbox re-sends
      // what ingest never acknowledged.
      await one.publishAsync(topics.node('n-1', 'evt'), 'fails', { qos: 1 });
      await one.publishAsync(topics.node('n-1', 'evt'), 'next', { qos: 1 });
      await one.publishAsync(topics.node('n-1', 'evt'), 'fails', { qos: 1 });
      expect(received).toEqual(['fails', 'next', 'fails']);
      expect(logLines).toHaveLength(2);
      expect(logLines[0]).toContain('ingest failed on a message');
      expect(logLines[0]).toContain('database gone');
      expect(thrown).toEqual([]);
    } finally {
      process.off('uncaughtException', record);
      process.off('unhandledRejection', record);
    }
  });
});
