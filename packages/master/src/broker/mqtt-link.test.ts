import { Writable } from 'node:stream';
import { Topics } from '@edgestelle/protocol';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MASTER_MQTT_USERNAME, startEmbeddedBroker } from './embedded-broker.ts';
import { connectMqttLink } from './mqtt-link.ts';

const logLine = z.object({ level: z.number(), msg: z.string() });

describe('MQTT link', () => {
  it('leaves a message stored after it closed unanswered, without an error', async () => {
    const topics = new Topics();
    const masterPassword = 'link-test-secret';
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      topics,
      masterPassword,
      checkNode: () => Promise.resolve(false),
      logger: pino({ level: 'silent' }),
    });
    const logged: Array<z.infer<typeof logLine>> = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(line: Buffer, _encoding, done) {
          logged.push(logLine.parse(JSON.parse(line.toString())));
          done();
        },
      }),
    );
    let storing = (): void => undefined;
    let arrived = (): void => undefined;
    const messageArrived = new Promise<void>((resolve) => (arrived = resolve));
    const link = await connectMqttLink({
      url: `mqtt://127.0.0.1:${broker.port}`,
      username: MASTER_MQTT_USERNAME,
      password: masterPassword,
      topics,
      shared: false,
      masterId: 'link-test',
      logger,
      onMessage: () =>
        new Promise<void>((resolve) => {
          storing = resolve;
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
    try {
      await agent.publishAsync(topics.node('n-1', 'evt'), Buffer.from('sealed bytes'), { qos: 1 });
      await messageArrived;
      // Stored only once the link's socket has ended: a PUBACK then would be written after the end.
      link.client.stream.once('finish', () => storing());
      await link.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(logged).toEqual([]);
    } finally {
      await agent.endAsync();
      await broker.close();
    }
  });
});
