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
import { nodeDtoSchema } from '@edgestelle/protocol';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SHIPPED_BROKER_NAME,
  startMaster,
  startShippedMosquitto,
  waitFor,
  type ChildMaster,
  type InProcessAgent,
  type ShippedMosquitto,
} from '@edgestelle/fleet-fixture';
import { expectedLines } from './support/expected-lines.ts';

const TAGS = { site: 'tls-e2e' };
// Lines, ANSI colours, bytes that are not UTF-8 and no final newline: output is bytes.
const SCRIPT = `for i in $(seq 1 300); do echo "tls line $i"; done; printf '\\033[31mred\\033[0m\\n\\377\\376 raw'`;
const EXPECTED = Buffer.concat([
  Buffer.from(expectedLines(300, 'tls')),
  Buffer.from('\u001b[31mred\u001b[0m\n'),
  Buffer.from([0xff, 0xfe]),
  Buffer.from(' raw'),
]);

describe('master + 2 agents on the shipped Mosquitto config over TLS', () => {
  let dir: TempDir;
  let mosquitto: ShippedMosquitto;
  let ca: Buffer;
  let master: ChildMaster;

  /** A real agent enrolled with a join token through the API, trusting only the private CA. */
  function tlsAgent(nodeId: string): Promise<InProcessAgent> {
    return master.startAgent(nodeId, { tags: TAGS, settings: { mqttCaFile: mosquitto.caFile } });
  }

  const node = (nodeId: string) => master.admin.api('GET', `/api/v1/nodes/${nodeId}`, nodeDtoSchema);

  async function runJobByTag(): Promise<Map<string, Buffer>> {
    const job = await master.admin.createJob({
      target: { tags: TAGS },
      spec: { script: { interpreter: 'sh', body: SCRIPT }, timeoutMs: 30_000 },
    });
    const outputs = new Map<string, Buffer>();
    for (const run of await master.admin.runs(job.jobId)) {
      const done = await master.admin.waitRun(run.runId, (r) => r.complete, 20_000);
      expect(done.state, `${done.nodeId}: ${JSON.stringify(done)}`).toBe('succeeded');
      outputs.set(done.nodeId, await master.admin.rawOutput(done.runId));
    }
    return outputs;
  }

  beforeAll(async () => {
    dir = await tempDir('edgestelle-production-');
    mosquitto = await startShippedMosquitto(dir.path);
    ca = await readFile(mosquitto.caFile);
    master = await startMaster({
      mode: 'child',
      config: { mqttUrl: mosquitto.masterUrl },
      env: { NODE_EXTRA_CA_CERTS: mosquitto.caFile },
    });
  }, 60_000);

  afterAll(async () => {
    await master?.[Symbol.asyncDispose]();
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

    const revoked = await master.admin.request('POST', '/api/v1/nodes/tls-a/revoke');
    expect(revoked.status).toBe(200);
    // Mosquitto closes the deleted user's live connection, and refuses each reconnect after it.
    await waitFor('tls-a disconnected by the broker', () => !a.agent.stats().connected, { timeoutMs: 15_000 });
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
    await waitFor('tls-a to retry twice', () => a.agent.stats().connectionSeq >= seqAfterCut + 2, {
      timeoutMs: 15_000,
    });
    expect(a.agent.stats().connected).toBe(false);
  }, 60_000);
});
