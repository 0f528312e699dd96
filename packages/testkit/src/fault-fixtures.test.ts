import { connect } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { countNumberedLines, numberedLines, startPostgresCluster, startMosquitto, startTcpProxy } from './index.ts';
import mqtt from 'mqtt';

describe('fault fixtures', () => {
  it('counts lost, doubled and foreign numbered lines and compares by hash', () => {
    expect(countNumberedLines(numberedLines(5, 'x'), 5, 'x')).toEqual({
      lost: 0,
      doubled: 0,
      foreign: 0,
      hashMatches: true,
    });
    expect(countNumberedLines('x 1\nx 1\nx 3\nnoise\nx 9\n', 4, 'x')).toEqual({
      lost: 2,
      doubled: 1,
      foreign: 2,
      hashMatches: false,
    });
  });

  it('proxies MQTT, blackholes it without a reset, carries on after heal, and cuts with a reset', async () => {
    await using broker = await startMosquitto();
    await using proxy = await startTcpProxy(broker.port);
    const client = await mqtt.connectAsync(`mqtt://${proxy.address}`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 60,
    });
    await client.subscribeAsync('t/p', { qos: 1 });
    const got: string[] = [];
    client.on('message', (_t, payload) => got.push(payload.toString()));
    await client.publishAsync('t/p', 'before', { qos: 1 });
    proxy.blackhole();
    let acked = false;
    const during = client.publishAsync('t/p', 'during', { qos: 1 }).then(() => (acked = true));
    // The PUBLISH has reached the proxy and is held there: the broker cannot have it yet.
    await expect.poll(() => proxy.heldBytes('toServer')).toBeGreaterThan(0);
    expect(acked).toBe(false);
    expect(client.connected).toBe(true);
    proxy.heal();
    await during;
    await expect.poll(() => got).toEqual(['before', 'during']);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    proxy.cut();
    await closed;
    expect(proxy.stats.connections).toBe(1);
    client.end(true);
  });

  it('holds one direction while the other flows', async () => {
    await using broker = await startMosquitto();
    await using proxy = await startTcpProxy(broker.port);
    proxy.hold('toServer');
    const socket = connect({ host: '127.0.0.1', port: proxy.port });
    await new Promise((resolve) => socket.once('connect', resolve));
    // An MQTT 3.1.1 CONNECT: held, so no CONNACK comes back until the hold ends.
    const connectPacket = Buffer.from([
      0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, 0x69, 0x64,
    ]);
    socket.write(connectPacket);
    let answered = false;
    socket.once('data', () => (answered = true));
    // The CONNECT has reached the proxy and is held there: the broker cannot answer it yet.
    await expect.poll(() => proxy.heldBytes('toServer')).toBe(connectPacket.byteLength);
    expect(answered).toBe(false);
    proxy.heal();
    await expect.poll(() => answered).toBe(true);
    socket.destroy();
  });

  it('runs a private PostgreSQL cluster that a test may stop and start again', async () => {
    await using cluster = await startPostgresCluster();
    const query = async (): Promise<number> => {
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      try {
        return (await client.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n ?? 0;
      } finally {
        await client.end();
      }
    };
    expect(await query()).toBe(1);
    const pid = cluster.pid();
    await cluster.stop('immediate');
    await expect(query()).rejects.toThrow();
    await cluster.start();
    expect(cluster.pid()).not.toBe(pid);
    expect(await query()).toBe(1);
  }, 120_000);
});
