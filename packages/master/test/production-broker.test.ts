/**
 * The production shape end to end: `edgestelle master` as its own process, as
 * deploy/docker-compose.yml runs it (an external broker at mqtts:// by the DNS name in its
 * certificate, trusting the private CA through NODE_EXTRA_CA_CERTS, node users and ACLs managed
 * through the dynamic-security plugin), Debian's Mosquitto running the shipped
 * deploy/mosquitto/mosquitto.conf with certificates from deploy/gen_certs.sh, and two real
 * agents enrolled through the master's API that reach the broker over TLS with the CA file.
 *
 * The master runs in a child process because Node reads NODE_EXTRA_CA_CERTS only at start and
 * the master has no CA setting of its own for its MQTT link.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createAgent, enroll, loadConfig, type Agent } from '@edgestelle/agent';
import { nodeDtoSchema, type EnrollResponse } from '@edgestelle/protocol';
import { freePort, tempDir, type TempDir } from '@edgestelle/testkit';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MasterProcess } from './faults/master-process.ts';
import {
  SHIPPED_BROKER_NAME,
  expectedLines,
  startShippedMosquitto,
  waitFor,
  type ShippedMosquitto,
} from './support/stack.ts';

const TAGS = { site: 'tls-e2e' };
// Lines, ANSI colours, bytes that are not UTF-8 and no final newline: output is bytes.
const SCRIPT = `for i in $(seq 1 300); do echo "tls line $i"; done; printf '\\033[31mred\\033[0m\\n\\377\\376 raw'`;
const EXPECTED = Buffer.concat([
  Buffer.from(expectedLines(300, 'tls')),
  Buffer.from('\u001b[31mred\u001b[0m\n'),
  Buffer.from([0xff, 0xfe]),
  Buffer.from(' raw'),
]);

interface TlsAgent {
  readonly agent: Agent;
  readonly credentials: EnrollResponse;
}

describe('master + 2 agents on the shipped Mosquitto config over TLS', () => {
  let dir: TempDir;
  let mosquitto: ShippedMosquitto;
  let ca: Buffer;
  let master: MasterProcess;
  const agents: Agent[] = [];

  /** A real agent enrolled with a join token through the API, trusting only the private CA. */
  async function tlsAgent(nodeId: string): Promise<TlsAgent> {
    const { token } = await master.api('POST', '/api/v1/join-tokens', z.object({ token: z.string() }), {
      tags: TAGS,
      maxUses: 1,
    });
    const stateDir = join(dir.path, 'agents', nodeId);
    const { credentials } = await enroll({ masterUrl: master.url, token, stateDir, nodeId, name: nodeId });
    const config = loadConfig({
      flags: { stateDir, logLevel: 'warn', mqttCaFile: mosquitto.caFile },
      env: {},
      credentials,
    });
    const agent = createAgent(config, {
      logger: pino({ level: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'silent' }),
      backoff: { initialMs: 50, maxMs: 500 },
      ackTimeoutMs: 1500,
    });
    agents.push(agent);
    await agent.start();
    await waitFor(async () => (await node(nodeId)).online, 20_000, `${nodeId} online`);
    return { agent, credentials };
  }

  const node = (nodeId: string) => master.api('GET', `/api/v1/nodes/${nodeId}`, nodeDtoSchema);

  async function runJobByTag(): Promise<Map<string, Buffer>> {
    const job = await master.createJob({
      target: { tags: TAGS },
      spec: { script: { interpreter: 'sh', body: SCRIPT }, timeoutMs: 30_000 },
    });
    const outputs = new Map<string, Buffer>();
    for (const run of await master.runs(job.jobId)) {
      const done = await master.waitRun(run.runId, (r) => r.complete, 20_000);
      expect(done.state, `${done.nodeId}: ${JSON.stringify(done)}`).toBe('succeeded');
      outputs.set(done.nodeId, await master.rawOutput(done.runId));
    }
    return outputs;
  }

  beforeAll(async () => {
    dir = await tempDir('edgestelle-production-');
    mosquitto = await startShippedMosquitto(dir.path);
    ca = await readFile(mosquitto.caFile);
    master = new MasterProcess(await freePort(), {
      EDGESTELLE_DATA_DIR: join(dir.path, 'master'),
      EDGESTELLE_MQTT_URL: mosquitto.masterUrl,
      NODE_EXTRA_CA_CERTS: mosquitto.caFile,
    });
    await master.start();
  }, 60_000);

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await master?.stop();
    await mosquitto?.broker[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('runs a job on both nodes by tag, output byte-exact; a revoked node is cut off while the other runs on', async () => {
    const a = await tlsAgent('tls-a');
    const b = await tlsAgent('tls-b');
    // The master hands out the broker as it reaches it, minus its own credentials.
    expect(a.credentials.mqtt.url).toBe(`mqtts://${SHIPPED_BROKER_NAME}:${mosquitto.broker.port}`);
    expect(a.credentials.mqtt.username).toBe('tls-a');

    const first = await runJobByTag();
    expect([...first.keys()].sort()).toEqual(['tls-a', 'tls-b']);
    for (const [nodeId, output] of first) expect(output.equals(EXPECTED), `${nodeId} output`).toBe(true);

    const revoked = await master.request('POST', '/api/v1/nodes/tls-a/revoke');
    expect(revoked.status).toBe(200);
    // Mosquitto closes the deleted user's live connection, and refuses each reconnect after it.
    await waitFor(() => !a.agent.stats().connected, 15_000, 'tls-a disconnected by the broker');
    const seqAfterCut = a.agent.stats().connectionSeq;
    expect((await node('tls-a')).online).toBe(false);
    await expect(
      mqtt.connectAsync(`mqtts://${SHIPPED_BROKER_NAME}:${mosquitto.broker.port}`, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        ca,
        username: a.credentials.mqtt.username,
        password: a.credentials.mqtt.password,
      }),
    ).rejects.toThrow(/Not authorized|Bad username/i);

    const second = await runJobByTag();
    expect([...second.keys()]).toEqual(['tls-b']);
    expect(second.get('tls-b')?.equals(EXPECTED)).toBe(true);
    expect((await node('tls-b')).online).toBe(true);
    expect(b.agent.stats().connected).toBe(true);
    // tls-a keeps trying (each attempt seals a new will, so the sequence counts attempts) and never gets back in.
    await waitFor(() => a.agent.stats().connectionSeq >= seqAfterCut + 2, 15_000, 'tls-a to retry twice');
    expect(a.agent.stats().connected).toBe(false);
  }, 60_000);
});
