import { Topics } from '@edgestelle/protocol';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../../test/support/broker.ts';
import { MASTER_MQTT_USERNAME } from './embedded-broker.ts';

describe('embedded broker', () => {
  it('lives on when its only subscriber drops in the middle of a burst', async () => {
    const topics = new Topics();
    const masterPassword = 'broker-test-secret';
    const broker = await startTestBroker(topics, masterPassword);
    const clients: mqtt.MqttClient[] = [];
    const connect = async (clientId: string): Promise<mqtt.MqttClient> => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
        protocolVersion: 4,
        clientId,
        username: MASTER_MQTT_USERNAME,
        password: masterPassword,
        reconnectPeriod: 0,
      });
      clients.push(client);
      return client;
    };
    // An error thrown inside the broker's callbacks surfaces here; in the master it ends the process.
    const thrown: unknown[] = [];
    const record = (err: unknown): void => void thrown.push(err);
    process.on('uncaughtException', record);
    process.on('unhandledRejection', record);
    try {
      // The master's link drops while agents are sending: the messages queued for it are left
      // with nobody to deliver to.
      const listening = await connect('link');
      const cmd = topics.node('n-1', 'cmd');
      await listening.subscribeAsync(cmd, { qos: 1 });
      let received = 0;
      const dropped = new Promise<void>((resolve) =>
        listening.on('message', () => {
          received += 1;
          if (received === 1000) {
            listening.end(true);
            resolve();
          }
        }),
      );
      const publishers = await Promise.all(['p-1', 'p-2', 'p-3'].map(connect));
      const payload = Buffer.from('x');
      for (const client of publishers) {
        for (let i = 0; i < 30_000; i += 1) client.publish(cmd, payload, { qos: 1 });
      }
      await dropped;
      for (const client of publishers) client.end(true);
      // Still there: a new subscriber gets a new message.
      const after = await connect('after');
      await after.subscribeAsync(cmd, { qos: 1 });
      const got = new Promise<string>((resolve) =>
        after.once('message', (_topic, message) => resolve(message.toString())),
      );
      await after.publishAsync(cmd, 'still here', { qos: 1 });
      expect(await got).toBe('still here');
      expect(thrown).toEqual([]);
    } finally {
      process.off('uncaughtException', record);
      process.off('unhandledRejection', record);
      for (const client of clients) client.end(true);
      await broker.close();
    }
  });
});
