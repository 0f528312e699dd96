/**
 * MosquittoSync against the real Debian Mosquitto running the shipped production config
 * (deploy/mosquitto/mosquitto.conf: TLS, dynamic security, username as client id) with
 * certificates from deploy/gen_certs.sh, on a free port. Mosquitto drops root to its own user
 * before it reads certificates and plugin data, so the broker's folder belongs to that user.
 */
import { execFileSync } from 'node:child_process';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startAedes, startMosquitto, tempDir, type Mosquitto, type TempDir } from '@edgestelle/testkit';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoSync } from './mosquitto-sync.ts';
import { MasterErrorCode } from '../errors.ts';

const REPO = resolve(import.meta.dirname, '../../../..');
const DEBIAN_DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';
const BROKER_NAME = 'broker.edgestelle.test';
const ADMIN = { username: 'edgestelle:admin', password: 'admin-secret-1' };
const MASTER = { username: 'edgestelle:master', password: 'master-secret-1' };
const P = 'edgestelle/v1/nodes';

function systemIds(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** The shipped config with the container's paths pointed at this test's folders. */
function shippedConfig(template: string, port: number, certsDir: string, dataDir: string): string {
  const rewritten = template
    .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`)
    .replaceAll('/mosquitto/certs/', `${certsDir}/`)
    .replaceAll('/mosquitto/data/', `${dataDir}/`)
    .replace('/usr/lib/mosquitto_dynamic_security.so', DEBIAN_DYNSEC_PLUGIN);
  expect(rewritten).toContain(`listener ${port} 127.0.0.1`);
  expect(rewritten).toContain(DEBIAN_DYNSEC_PLUGIN);
  return rewritten;
}

describe('MosquittoSync with the shipped Mosquitto config over TLS', () => {
  let dir: TempDir;
  let broker: Mosquitto;
  let ca: Buffer;
  let admin: MqttClient;
  let sync: MosquittoSync;
  const clients: MqttClient[] = [];

  function options(extra: IClientOptions = {}): IClientOptions {
    return {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      // The broker is reached at 127.0.0.1 but verified by the DNS name in its certificate.
      servername: BROKER_NAME,
      ca,
      ...extra,
    };
  }

  async function connect(extra: IClientOptions): Promise<MqttClient> {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, options(extra));
    clients.push(client);
    return client;
  }

  function nextMessage(client: MqttClient): Promise<{ topic: string; payload: string }> {
    return new Promise((resolve) =>
      client.once('message', (topic, payload) => resolve({ topic, payload: payload.toString() })),
    );
  }

  function closed(client: MqttClient): Promise<void> {
    return new Promise((resolve) => {
      if (!client.connected) resolve();
      else client.once('close', () => resolve());
    });
  }

  beforeAll(async () => {
    dir = await tempDir('edgestelle-broker-');
    const mosquittoUser = systemIds('mosquitto');
    const certsDir = join(dir.path, 'certs');
    const dataDir = join(dir.path, 'data');
    execFileSync('bash', [
      join(REPO, 'deploy/gen_certs.sh'),
      ...['--out', certsDir, '--dns', BROKER_NAME, '--ip', '127.0.0.1'],
      ...['--broker-owner', `${mosquittoUser.uid}:${mosquittoUser.gid}`],
    ]);
    ca = await readFile(join(certsDir, 'ca.crt'));
    await mkdir(dataDir, { mode: 0o700 });
    // The documented bootstrap: one admin user made offline, everything else over MQTT.
    execFileSync('mosquitto_ctrl', [
      'dynsec',
      'init',
      join(dataDir, 'dynamic-security.json'),
      ADMIN.username,
      ADMIN.password,
    ]);
    await chown(dataDir, mosquittoUser.uid, mosquittoUser.gid);
    await chown(join(dataDir, 'dynamic-security.json'), mosquittoUser.uid, mosquittoUser.gid);
    await chown(dir.path, 0, mosquittoUser.gid);
    execFileSync('chmod', ['0750', dir.path]);

    const template = await readFile(join(REPO, 'deploy/mosquitto/mosquitto.conf'), 'utf8');
    broker = await startMosquitto({
      listenerConfig: (port) => shippedConfig(template, port, certsDir, dataDir),
      config: '',
    });
    admin = await connect(ADMIN);
    sync = new MosquittoSync(admin, { responseTimeoutMs: 15_000 });
    await sync.ensureMaster(MASTER.username, MASTER.password);
    await sync.upsertNode('node-a', 'pass-a');
    await sync.upsertNode('node-b', 'pass-b');
  });

  afterAll(async () => {
    sync?.close();
    for (const client of clients) await client.endAsync(true);
    await broker?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('lets a node publish its events to the master and receive its commands', async () => {
    const master = await connect(MASTER);
    await master.subscribeAsync(`${P}/+/evt`, { qos: 1 });
    const nodeA = await connect({ username: 'node-a', password: 'pass-a' });
    await nodeA.subscribeAsync(`${P}/node-a/cmd`, { qos: 1 });

    const evt = nextMessage(master);
    await nodeA.publishAsync(`${P}/node-a/evt`, 'hello', { qos: 1 });
    expect(await evt).toEqual({ topic: `${P}/node-a/evt`, payload: 'hello' });

    const cmd = nextMessage(nodeA);
    await master.publishAsync(`${P}/node-a/cmd`, 'run', { qos: 1 });
    expect(await cmd).toEqual({ topic: `${P}/node-a/cmd`, payload: 'run' });
    await master.endAsync();
  });

  it('lets the master subscribe through the shared group', async () => {
    const master = await connect(MASTER);
    const grants = await master.subscribeAsync(`$share/edgestelle/${P}/+/state`, { qos: 1 });
    expect(grants.map((g) => g.qos)).toEqual([1]);
    await master.endAsync();
  });

  it("refuses node A a subscription to node B's topics, to other nodes' commands and to #", async () => {
    const nodeA = await connect({ username: 'node-a', password: 'pass-a' });
    for (const filter of [`${P}/node-b/cmd`, `${P}/node-b/evt`, `${P}/+/cmd`, `${P}/node-a/#`, '#', '$SYS/#']) {
      // Subscribe one by one: a refused filter fails the whole subscribeAsync call.
      await expect(nodeA.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow();
    }
  });

  it("drops node A's publishes on node B's topics: the master and B see only what follows", async () => {
    const master = await connect(MASTER);
    await master.subscribeAsync(`${P}/+/evt`, { qos: 1 });
    await master.subscribeAsync(`${P}/+/state`, { qos: 1 });
    const nodeB = await connect({ username: 'node-b', password: 'pass-b' });
    await nodeB.subscribeAsync(`${P}/node-b/cmd`, { qos: 1 });
    const nodeA = await connect({ username: 'node-a', password: 'pass-a' });

    const atMaster: string[] = [];
    master.on('message', (topic, payload) => atMaster.push(`${topic} ${payload.toString()}`));
    const atB: string[] = [];
    nodeB.on('message', (topic, payload) => atB.push(`${topic} ${payload.toString()}`));

    await nodeA.publishAsync(`${P}/node-b/evt`, 'forged', { qos: 1 });
    await nodeA.publishAsync(`${P}/node-b/state`, 'forged', { qos: 1, retain: true });
    await nodeA.publishAsync(`${P}/node-b/cmd`, 'forged', { qos: 1 });
    // One connection delivers in order: once A's own event arrives, anything forged before it would have too.
    const sentinel = nextMessage(master);
    await nodeA.publishAsync(`${P}/node-a/evt`, 'sentinel', { qos: 1 });
    await sentinel;
    const sentinelB = nextMessage(nodeB);
    await master.publishAsync(`${P}/node-b/cmd`, 'sentinel', { qos: 1 });
    await sentinelB;

    expect(atMaster).toEqual([`${P}/node-a/evt sentinel`]);
    expect(atB).toEqual([`${P}/node-b/cmd sentinel`]);
    await master.endAsync();
  });

  it("does not let node A take over node B's client id", async () => {
    const nodeB = await connect({ username: 'node-b', password: 'pass-b', clientId: 'node-b' });
    let bClosed = false;
    nodeB.once('close', () => {
      bClosed = true;
    });
    const nodeA = await connect({ username: 'node-a', password: 'pass-a', clientId: 'node-b' });
    // B is still the one connected as node-b: a command for B reaches B.
    await nodeB.subscribeAsync(`${P}/node-b/cmd`, { qos: 1 });
    const master = await connect(MASTER);
    const cmd = nextMessage(nodeB);
    await master.publishAsync(`${P}/node-b/cmd`, 'still-b', { qos: 1 });
    expect((await cmd).payload).toBe('still-b');
    expect(bClosed).toBe(false);
    expect(nodeA.connected).toBe(true);
    await master.endAsync();
  });

  it('refuses anonymous clients and wrong passwords', async () => {
    await expect(connect({})).rejects.toThrow(/Not authorized|Bad username/i);
    await expect(connect({ username: 'node-a', password: 'wrong' })).rejects.toThrow(/Not authorized|Bad username/i);
  });

  it('refuses a client that does not trust the CA', async () => {
    await using other = await tempDir();
    execFileSync('bash', [join(REPO, 'deploy/gen_certs.sh'), '--out', other.path, '--dns', BROKER_NAME]);
    const otherCa = await readFile(join(other.path, 'ca.crt'));
    await expect(connect({ username: 'node-a', password: 'pass-a', ca: otherCa })).rejects.toThrow(/certificate/i);
    await expect(connect({ username: 'node-a', password: 'pass-a', ca: undefined })).rejects.toThrow(/certificate/i);
    // The right CA but the wrong name: the broker is verified by name, not only by signature.
    await expect(connect({ username: 'node-a', password: 'pass-a', servername: 'other.test' })).rejects.toThrow(
      /altnames|hostname|certificate/i,
    );
  });

  it('cuts off a removed node, its live connection too, and removing twice is harmless', async () => {
    await sync.upsertNode('node-c', 'pass-c');
    await sync.upsertNode('node-c', 'pass-c');
    const nodeC = await connect({ username: 'node-c', password: 'pass-c' });
    const gone = closed(nodeC);
    await sync.removeNode('node-c');
    await gone;
    await expect(connect({ username: 'node-c', password: 'pass-c' })).rejects.toThrow(/Not authorized|Bad username/i);
    await sync.removeNode('node-c');
  });

  it('a new password for a node disconnects the old session and refuses the old password', async () => {
    await sync.upsertNode('node-d', 'pass-d1');
    const old = await connect({ username: 'node-d', password: 'pass-d1' });
    const gone = closed(old);
    await sync.upsertNode('node-d', 'pass-d2');
    await gone;
    await expect(connect({ username: 'node-d', password: 'pass-d1' })).rejects.toThrow(/Not authorized|Bad/i);
    const fresh = await connect({ username: 'node-d', password: 'pass-d2' });
    await fresh.subscribeAsync(`${P}/node-d/cmd`, { qos: 1 });
  });

  it('matches answers to requests when several masters change users at once', async () => {
    const master = await connect(MASTER);
    const masterSync = new MosquittoSync(master, { responseTimeoutMs: 15_000 });
    const nodeIds = Array.from({ length: 12 }, (_, i) => `bulk-${i}`);
    // Both clients receive every answer on the shared response topic; each takes only its own.
    await Promise.all(
      nodeIds.map((nodeId, i) => (i % 2 === 0 ? sync : masterSync).upsertNode(nodeId, `pass-${nodeId}`)),
    );
    for (const nodeId of [nodeIds[0], nodeIds[11]]) {
      const node = await connect({ username: nodeId, password: `pass-${nodeId}` });
      await node.subscribeAsync(`${P}/${nodeId}/cmd`, { qos: 1 });
    }
    await Promise.all(nodeIds.map((nodeId) => masterSync.removeNode(nodeId)));
    masterSync.close();
  });

  it('keeps users and roles across a broker restart', async () => {
    for (const client of clients.splice(0)) await client.endAsync(true);
    sync.close();
    await broker.stop();
    await broker.start();
    admin = await connect(ADMIN);
    sync = new MosquittoSync(admin, { responseTimeoutMs: 15_000 });
    const nodeA = await connect({ username: 'node-a', password: 'pass-a' });
    await nodeA.subscribeAsync(`${P}/node-a/cmd`, { qos: 1 });
    await expect(nodeA.subscribeAsync(`${P}/node-b/cmd`, { qos: 1 })).rejects.toThrow();
    // A master may also run the sync on its own connection: its own password stays as it is.
    const master = await connect(MASTER);
    const masterSync = new MosquittoSync(master, { responseTimeoutMs: 15_000 });
    await masterSync.ensureMaster(MASTER.username, MASTER.password);
    await masterSync.upsertNode('node-e', 'pass-e');
    expect(master.connected).toBe(true);
    masterSync.close();
  });

  it('refuses invalid names before asking the broker, and reports a user without rights', async () => {
    await expect(sync.upsertNode('Node_A', 'x')).rejects.toMatchObject({
      code: MasterErrorCode.brokerUsernameInvalid,
    });
    await expect(sync.ensureMaster('master', 'x')).rejects.toMatchObject({
      code: MasterErrorCode.brokerUsernameInvalid,
    });
    const nodeA = await connect({ username: 'node-a', password: 'pass-a' });
    const powerless = new MosquittoSync(nodeA, { responseTimeoutMs: 2_000 });
    await expect(powerless.upsertNode('node-z', 'x')).rejects.toMatchObject({
      code: MasterErrorCode.brokerSecurityRefused,
    });
    powerless.close();
  });
});

describe('MosquittoSync against a broker without the dynamic-security plugin', () => {
  it('gives up after the response timeout with a message naming the likely cause', async () => {
    await using aedes = await startAedes();
    const client = await mqtt.connectAsync(aedes.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const sync = new MosquittoSync(client, { responseTimeoutMs: 300 });
    try {
      const err: unknown = await sync.removeNode('node-a').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: MasterErrorCode.brokerSecurityTimeout });
      expect(String(err)).toMatch(/dynamic-security plugin loaded/);
    } finally {
      sync.close();
      await client.endAsync(true);
    }
  });
});
