import { createServer } from 'node:net';
import { once } from 'node:events';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { brokerPersistence, topicMatches } from './broker-persistence.ts';

describe('topicMatches', () => {
  it.each([
    ['a/b/c', 'a/b/c', true],
    ['a/b/c', 'a/b', false],
    ['a/b', 'a/b/c', false],
    ['a/+/c', 'a/x/c', true],
    ['a/+/c', 'a//c', true],
    ['a/+', 'a/x/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/x/y', true],
    ['#', 'a/x', true],
    ['+/x', '$SYS/x', false],
    ['#', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/#/c', 'a/b/c', false],
  ])('%s against %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});

describe('brokerPersistence', () => {
  it('hands a subscriber the retained messages of its exact topic and of its wildcard filters, and forgets cleared ones', async () => {
    const broker = await Aedes.createBroker({ persistence: brokerPersistence() });
    const server = createServer((socket) => broker.handle(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    const url = `mqtt://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    const clients: mqtt.MqttClient[] = [];
    const connect = async () => {
      const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
      clients.push(client);
      return client;
    };
    // Subscribed to last in the same SUBSCRIBE: Aedes sends a SUBSCRIBE's retained messages in
    // the order of its filters, one after the other, so once the marker's has come every
    // retained message of `filter` has come too, and nothing more will.
    const marker = 'marker/end';
    const retainedOn = async (filter: string): Promise<Map<string, string>> => {
      const client = await connect();
      const got = new Map<string, string>();
      const markerCame = new Promise<void>((resolve) => {
        client.on('message', (topic, payload, packet) => {
          if (topic === marker) resolve();
          else if (packet.retain) got.set(topic, payload.toString());
        });
      });
      await client.subscribeAsync([filter, marker], { qos: 1 });
      await markerCame;
      return got;
    };
    try {
      const publisher = await connect();
      await publisher.publishAsync(marker, 'end', { qos: 1, retain: true });
      for (const node of ['n1', 'n2', 'n3']) {
        await publisher.publishAsync(`p/nodes/${node}/state`, `on-${node}`, { qos: 1, retain: true });
      }
      await publisher.publishAsync('p/nodes/n2/state', '', { qos: 1, retain: true });

      expect(await retainedOn('p/nodes/n1/state')).toEqual(new Map([['p/nodes/n1/state', 'on-n1']]));
      expect(await retainedOn('p/nodes/n2/state')).toEqual(new Map());
      expect(await retainedOn('p/nodes/+/state')).toEqual(
        new Map([
          ['p/nodes/n1/state', 'on-n1'],
          ['p/nodes/n3/state', 'on-n3'],
        ]),
      );
      expect([...(await retainedOn('p/#')).keys()].sort()).toEqual(['p/nodes/n1/state', 'p/nodes/n3/state']);
    } finally {
      for (const client of clients) await client.endAsync(true);
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      server.close();
    }
  });
});
