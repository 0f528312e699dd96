import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Topics } from '@edgestelle/protocol';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../../test/support/broker.ts';
import { capturingLogger } from '../../test/support/logs.ts';
import { MASTER_MQTT_USERNAME } from './embedded-broker.ts';
import { connectMqttLink, type MqttLink } from './mqtt-link.ts';

/**
 * A link to a real embedded broker whose message handler holds each message until the test
 * lets it go, and a client that sends it agent events.
 */
async function heldLink() {
  const topics = new Topics();
  const masterPassword = 'link-test-secret';
  const broker = await startTestBroker(topics, masterPassword);
  const { logger, logged } = capturingLogger('warn');
  let store = (): void => undefined;
  let arrived = (): void => undefined;
  const messageArrived = new Promise<void>((resolve) => (arrived = resolve));
  const link: MqttLink = await connectMqttLink({
    url: `mqtt://127.0.0.1:${broker.port}`,
    username: MASTER_MQTT_USERNAME,
    password: masterPassword,
    topics,
    shared: false,
    masterId: 'link-test',
    logger,
    onMessage: () =>
      new Promise<void>((resolve) => {
        store = resolve;
        arrived();
      }),
  });
  const agent = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
    protocolVersion: 4,
    clientId: 'sender',
    username: MASTER_MQTT_USERNAME,
    password: masterPassword,
    reconnectPeriod: 0,
  });
  return {
    link,
    logged,
    /** Sends one event and resolves once the link's handler holds it. */
    async sendEvent() {
      await agent.publishAsync(topics.node('n-1', 'evt'), Buffer.from('sealed bytes'), { qos: 1 });
      await messageArrived;
    },
    /** Lets the held message be stored. */
    store: () => store(),
    commandTopic: topics.node('n-1', 'cmd'),
    async [Symbol.asyncDispose]() {
      await agent.endAsync();
      await broker.close();
    },
  };
}

describe('MQTT link', () => {
  it('leaves a message stored after it closed unanswered, without an error', async () => {
    await using held = await heldLink();
    await held.sendEvent();
    // Stored only once the link's socket has ended: a PUBACK then would be written after the end.
    held.link.client.stream.once('finish', () => held.store());
    // close() resolves on the socket's 'close', which Node emits after any 'error' of that
    // socket: a PUBACK written after the end would have been logged by then.
    await held.link.close();
    expect(held.logged).toEqual([]);
  });

  it('closes while a message is being stored and its own publish awaits the broker', async () => {
    await using held = await heldLink();
    await held.sendEvent();
    // The link reads no packet while the message is held, so the broker's PUBACK to this waits
    // in the socket; the close then waits for that PUBACK (10,000 agents going offline during
    // a master's shutdown made this, and the master never exited).
    const pubackWaits = once(held.link.client.stream, 'data');
    const published = held.link.publisher.publish(held.commandTopic, Buffer.from('a command'));
    const closed = held.link.close().then(() => 'closed');
    // The broker's PUBACK to the command has reached the link's socket and waits there, unread.
    await pubackWaits;
    held.store();
    await expect(Promise.race([closed, sleep(5000).then(() => 'still closing after 5 s')])).resolves.toBe('closed');
    await published;
    expect(held.logged).toEqual([]);
  });
});
