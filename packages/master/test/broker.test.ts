import { Topics } from '@edgestelle/protocol';
import { sealMessage } from '@edgestelle/protocol/envelope';
import { deriveNodeKey } from '@edgestelle/protocol/envelope';
import { enrollResponseSchema } from '@edgestelle/protocol';
import { connect } from 'node:net';
import { metricSum } from '@edgestelle/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PacketType, connectPacket, fixedHeader, openRaw } from './support/raw-mqtt.ts';
import { type InProcessMaster, startMaster, waitFor } from '@edgestelle/fleet-fixture';

async function enrollRaw(stack: InProcessMaster, nodeId: string, token?: string) {
  token ??= await stack.admin.joinToken();
  const response = await fetch(`${stack.master.url}/api/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, nodeId, name: nodeId }),
  });
  return enrollResponseSchema.parse(await response.json());
}

function connectMqtt(
  url: string,
  options: { clientId: string; username?: string; password?: string },
): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...options });
}

describe('embedded broker lock-down', () => {
  it('refuses anonymous clients, wrong passwords and a client id that is not the username', async () => {
    await using stack = await startMaster();
    const creds = await enrollRaw(stack, 'edge-1');
    const url = stack.master.brokerUrl;
    await expect(connectMqtt(url, { clientId: 'edge-1' })).rejects.toThrow(/Bad username or password|Not authorized/i);
    await expect(connectMqtt(url, { clientId: 'edge-1', username: 'edge-1', password: 'guess' })).rejects.toThrow();
    await expect(
      connectMqtt(url, { clientId: 'edge-2', username: 'edge-1', password: creds.mqtt.password }),
    ).rejects.toThrow();
    await expect(
      connectMqtt(url, { clientId: 'edgestelle-master', username: 'edgestelle:master', password: 'guess' }),
    ).rejects.toThrow();
    const ok = await connectMqtt(url, { clientId: 'edge-1', username: 'edge-1', password: creds.mqtt.password });
    await ok.endAsync();
  });

  it('confines a node to its own topics, and revocation ends its session at once', async () => {
    await using stack = await startMaster();
    const one = await enrollRaw(stack, 'edge-1');
    await enrollRaw(stack, 'edge-2');
    const topics = new Topics();
    const client = await connectMqtt(stack.master.brokerUrl, {
      clientId: 'edge-1',
      username: 'edge-1',
      password: one.mqtt.password,
    });
    // Subscribing to another node's commands is refused (SUBACK 128).
    await expect(client.subscribeAsync(topics.node('edge-2', 'cmd'), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(client.connected).toBe(true);
    const own = await client.subscribeAsync(topics.node('edge-1', 'cmd'), { qos: 1 });
    expect(own[0]?.qos).toBe(1);
    // Publishing as edge-2 is dropped: aedes disconnects a client whose publish is refused.
    const key = { keyId: 0, key: deriveNodeKey(Buffer.alloc(32), 'edge-2', 0) };
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(
      topics.node('edge-2', 'state'),
      sealMessage(topics.node('edge-2', 'state'), { kind: 'state', online: true, connectionSeq: 1, beat: 0 }, key),
      { qos: 1 },
    );
    await closed;
    expect((await stack.master.nodes.get('edge-2')).lastSeenAt).toBeNull();

    const again = await connectMqtt(stack.master.brokerUrl, {
      clientId: 'edge-1',
      username: 'edge-1',
      password: one.mqtt.password,
    });
    const gone = new Promise<void>((resolve) => again.once('close', () => resolve()));
    const revoked = await stack.admin.request('POST', '/api/v1/nodes/edge-1/revoke');
    expect(revoked.status).toBe(200);
    await gone;
    await expect(
      connectMqtt(stack.master.brokerUrl, { clientId: 'edge-1', username: 'edge-1', password: one.mqtt.password }),
    ).rejects.toThrow();
    again.end(true);
    client.end(true);
  });

  it('ends a connection whose packet header announces more than the size cap, before the body arrives', async () => {
    await using stack = await startMaster();
    const { port } = new URL(stack.master.brokerUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    // PUBLISH with a remaining length of 10,000,000 (varint 0x80 0xad 0xe2 0x04), and no body.
    socket.write(Buffer.from([0x30, 0x80, 0xad, 0xe2, 0x04]));
    await closed;
    // The broker is fine for everyone else.
    const creds = await enrollRaw(stack, 'edge-1');
    const ok = await connectMqtt(stack.master.brokerUrl, {
      clientId: 'edge-1',
      username: 'edge-1',
      password: creds.mqtt.password,
    });
    await ok.endAsync();
  });

  it('follows packet boundaries on a live connection and cuts it at the first oversized header', async () => {
    await using stack = await startMaster();
    const creds = await enrollRaw(stack, 'edge-1');
    const topics = new Topics();
    const client = await connectMqtt(stack.master.brokerUrl, {
      clientId: 'edge-1',
      username: 'edge-1',
      password: creds.mqtt.password,
    });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => undefined);
    // Packets of every length-field size pass (1-, 2- and 3-byte remaining lengths).
    await client.subscribeAsync(topics.node('edge-1', 'cmd'), { qos: 1 });
    for (const bytes of [10, 1000, 100_000]) {
      await client.publishAsync(topics.node('edge-1', 'evt'), Buffer.alloc(bytes, 1), { qos: 1 });
    }
    // PUBLISH announcing 10,000,000 bytes, its length field split across two writes.
    client.stream.write(Buffer.from([0x30, 0x80]));
    client.stream.write(Buffer.from([0xad, 0xe2, 0x04]));
    await closed;
    const again = await connectMqtt(stack.master.brokerUrl, {
      clientId: 'edge-1',
      username: 'edge-1',
      password: creds.mqtt.password,
    });
    await again.endAsync();
  });

  it('re-enrollment rolls the key epoch and the broker password', async () => {
    await using stack = await startMaster();
    const first = await enrollRaw(stack, 'edge-1');
    // An enrolled node enrolls again with a token made for it (enroll-takeover.test.ts has the rest).
    const forNode = await stack.admin.api('POST', '/api/v1/join-tokens', z.object({ token: z.string() }), {
      nodeId: 'edge-1',
    });
    const second = await enrollRaw(stack, 'edge-1', forNode.token);
    expect(second.keyId).toBe(first.keyId + 1);
    expect(second.nodeKey).not.toBe(first.nodeKey);
    await expect(
      connectMqtt(stack.master.brokerUrl, { clientId: 'edge-1', username: 'edge-1', password: first.mqtt.password }),
    ).rejects.toThrow();
    const ok = await connectMqtt(stack.master.brokerUrl, {
      clientId: 'edge-1',
      username: 'edge-1',
      password: second.mqtt.password,
    });
    await ok.endAsync();
  });
});

describe('embedded broker before CONNACK', () => {
  const metrics = async (stack: InProcessMaster): Promise<string> =>
    (await stack.admin.request('GET', '/metrics')).text();
  const brokerPort = (stack: InProcessMaster): number => Number(new URL(stack.master.brokerUrl).port);

  it('closes a connection whose first packet is not a CONNECT or that sends over 4 KiB before its CONNACK, and counts it', async () => {
    await using stack = await startMaster();
    const port = brokerPort(stack);
    const publishFirst = await openRaw(port);
    publishFirst.socket.write(fixedHeader(PacketType.publish, 10));
    // The flood of issue 17: a CONNECT announcing 512 KiB, its body on the way.
    const bigConnect = await openRaw(port);
    bigConnect.socket.write(Buffer.concat([fixedHeader(PacketType.connect, 512 * 1024), Buffer.alloc(64 * 1024)]));
    // A CONNECT within the limit, and before any CONNACK could come, a 5,000-byte PUBLISH.
    const pipelined = await openRaw(port);
    pipelined.socket.write(
      Buffer.concat([connectPacket('pipelined'), fixedHeader(PacketType.publish, 5000), Buffer.alloc(100)]),
    );
    await Promise.all([publishFirst.closed, bigConnect.closed, pipelined.closed]);
    // None got as far as a CONNACK.
    for (const refused of [publishFirst, bigConnect, pipelined]) expect(refused.received()).toHaveLength(0);
    // A CONNECT that trickles in a byte at a time is answered (no credentials: return code 4).
    const trickle = await openRaw(port);
    trickle.socket.setNoDelay(true);
    for (const byte of connectPacket('trickle')) {
      await new Promise<void>((resolve) => trickle.socket.write(Buffer.from([byte]), () => resolve()));
    }
    await trickle.closed;
    expect([...trickle.received()]).toEqual([0x20, 0x02, 0x00, 0x04]);
    const broker = stack.master.embeddedBroker;
    await waitFor('no connection waiting for its CONNACK', () => broker?.unauthenticated.current === 0, {
      timeoutMs: 5000,
    });
    const text = await metrics(stack);
    expect(metricSum(text, 'edgestelle_mqtt_unauthenticated_refused_total', 'reason="not_connect"')).toBe(1);
    expect(metricSum(text, 'edgestelle_mqtt_unauthenticated_refused_total', 'reason="too_large"')).toBe(2);
    expect(metricSum(text, 'edgestelle_mqtt_unauthenticated_refused_total', 'reason="limit"')).toBe(0);
    expect(metricSum(text, 'edgestelle_mqtt_unauthenticated_connections')).toBe(0);
  });

  it('closes sockets past the cap as they come and the rest at the deadline; a node that logged in is neither counted nor closed', async () => {
    const deadlineMs = 1500;
    await using stack = await startMaster({
      deps: { mqttConnectDeadlineMs: deadlineMs },
      config: { mqttMaxUnauthenticated: '3' },
    });
    const broker = stack.master.embeddedBroker;
    if (broker === undefined) throw new Error('no embedded broker');
    const agent = await stack.startAgent('edge-1');
    expect(broker.unauthenticated.current).toBe(0);
    const port = brokerPort(stack);
    const opened = performance.now();
    const waiting = [await openRaw(port), await openRaw(port), await openRaw(port)];
    // One silent, one mid-CONNECT, one with a whole CONNECT header and half its body.
    waiting[1]?.socket.write(connectPacket('slow-1').subarray(0, 6));
    waiting[2]?.socket.write(connectPacket('slow-2').subarray(0, 10));
    await waitFor('three connections waiting', () => broker.unauthenticated.current === 3, { timeoutMs: 5000 });
    const fourth = await openRaw(port);
    await fourth.closed;
    expect(broker.unauthenticated.refused.limit).toBe(1);
    await Promise.all(waiting.map((connection) => connection.closed));
    expect(performance.now() - opened).toBeGreaterThanOrEqual(deadlineMs - 50);
    const text = await metrics(stack);
    expect(metricSum(text, 'edgestelle_mqtt_unauthenticated_refused_total', 'reason="limit"')).toBe(1);
    expect(metricSum(text, 'edgestelle_mqtt_connect_timeouts_total')).toBe(3);
    expect(metricSum(text, 'edgestelle_mqtt_unauthenticated_connections')).toBe(0);
    // The node's session outlived the deadline and still carries a job.
    expect(broker.isNodeConnected(agent.nodeId)).toBe(true);
    const job = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo still here', timeoutMs: 30_000 },
    });
    const [run] = await stack.admin.runs(job.jobId);
    expect((await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete)).state).toBe('succeeded');
  });
});

describe('ingest', () => {
  it('counts and logs what it refuses and never crashes on it', async () => {
    await using stack = await startMaster({ broker: 'mosquitto' });
    const creds = await enrollRaw(stack, 'edge-1');
    const topics = new Topics();
    const client = await connectMqtt(stack.master.brokerUrl, { clientId: 'raw-1' });
    const stateTopic = topics.node('edge-1', 'state');
    await client.publishAsync(stateTopic, Buffer.from('garbage'), { qos: 1 });
    const wrongKey = { keyId: creds.keyId, key: Buffer.alloc(32, 7) };
    await client.publishAsync(
      stateTopic,
      sealMessage(stateTopic, { kind: 'state', online: true, connectionSeq: 1, beat: 0 }, wrongKey),
      { qos: 1 },
    );
    const key = { keyId: creds.keyId, key: Buffer.from(creds.nodeKey, 'base64') };
    // Sealed for edge-1's state but published on its evt topic: the topic is bound into the tag.
    await client.publishAsync(
      topics.node('edge-1', 'evt'),
      sealMessage(stateTopic, { kind: 'state', online: true, connectionSeq: 1, beat: 0 }, key),
      { qos: 1 },
    );
    await client.publishAsync(`${topics.prefix}/v1/nodes/UPPER/evt`, Buffer.alloc(80), { qos: 1 });
    await waitFor('four rejects', () => [...stack.master.ingest.rejects.values()].reduce((a, b) => a + b, 0) >= 4, {
      timeoutMs: 10_000,
    });
    expect(Object.fromEntries(stack.master.ingest.rejects)).toEqual({
      envelope_too_short: 1,
      envelope_auth_failed: 2,
      node_id_invalid: 1,
    });
    // Still alive, and a good message goes through.
    await client.publishAsync(
      stateTopic,
      sealMessage(stateTopic, { kind: 'state', online: true, connectionSeq: 1, beat: 0 }, key),
      { qos: 1 },
    );
    await waitFor('online', async () => (await stack.master.nodes.get('edge-1')).online, { timeoutMs: 10_000 });
    // Retained state from an older connection arriving late never wins over a newer one.
    await client.publishAsync(
      stateTopic,
      sealMessage(stateTopic, { kind: 'state', online: false, connectionSeq: 0, beat: 9 }, key),
      { qos: 1 },
    );
    await client.publishAsync(
      stateTopic,
      sealMessage(stateTopic, { kind: 'state', online: true, connectionSeq: 1, beat: 1 }, key),
      { qos: 1 },
    );
    await waitFor(
      'beat 1',
      async () => {
        const row = await stack.master.store.db
          .selectFrom('nodes')
          .select(['beat', 'online'])
          .where('node_id', '=', 'edge-1')
          .executeTakeFirstOrThrow();
        return row.beat === 1;
      },
      { timeoutMs: 10_000 },
    );
    expect((await stack.master.nodes.get('edge-1')).online).toBe(true);
    // The will (offline) of the same connection wins.
    await client.publishAsync(
      stateTopic,
      sealMessage(stateTopic, { kind: 'state', online: false, connectionSeq: 1, beat: 1 }, key),
      { qos: 1 },
    );
    await waitFor('offline', async () => !(await stack.master.nodes.get('edge-1')).online, { timeoutMs: 10_000 });
    await client.endAsync();
  });
});
