/**
 * Issue 10, the master's side of "broker access but no key": forged payloads on an enrolled
 * node's event and state topics (random, one bit flipped at every byte of a valid envelope,
 * truncated at every length, an unknown key id, the wrong key) and a valid event moved onto
 * another node's topic. The master must stay up, store nothing, and count each refusal on
 * /metrics under exactly the reason the protocol gives it (computed here with the real key).
 *
 * CI size by default; `EDGESTELLE_FAULT_SCALE=long` forges more.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isProtocolError, newId, Topics } from '@edgestelle/protocol';
import { deriveNodeKey, openMessage, sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import { metricSum, recordFault, sized, tempDir } from '@edgestelle/testkit';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

const topics = new Topics();
const REASON_METRIC = 'edgestelle_envelopes_rejected_total';

/** The refusal the protocol gives `payload` on `topic` for a node holding `key`, or 'opened'. */
function verdict(nodeId: string, key: SealingKey, topic: string, payload: Buffer): string {
  try {
    openMessage(topics, topic, payload, { keyFor: (n, k) => (n === nodeId && k === key.keyId ? key.key : undefined) });
    return 'opened';
  } catch (err) {
    if (isProtocolError(err)) return err.code;
    throw err;
  }
}

/** Reasons and counts from the master's /metrics. */
function reasons(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const match of metrics.matchAll(new RegExp(`^${REASON_METRIC}\\{reason="([^"]+)"\\} (\\d+)$`, 'gm'))) {
    if (match[1] !== undefined) out[match[1]] = Number(match[2]);
  }
  return out;
}

describe('forged messages at the master', () => {
  it('refuses forged events and states, counts each on /metrics by the reason the protocol gives, stores nothing', async () => {
    await using keyDir = await tempDir();
    const masterSecret = Buffer.alloc(32, 5);
    const masterKeyFile = join(keyDir.path, 'master.key');
    await writeFile(masterKeyFile, masterSecret, { mode: 0o600 });
    await using stack = await startMaster({ broker: 'mosquitto', config: { masterKeyFile } });
    if (stack.mqttUrl === undefined) throw new Error('no broker');
    const agent = await stack.startAgent('ing-1');
    await stack.startAgent('ing-2');
    const { key_epoch: epoch } = await stack.master.store.db
      .selectFrom('nodes')
      .select('key_epoch')
      .where('node_id', '=', agent.nodeId)
      .executeTakeFirstOrThrow();
    const key: SealingKey = { keyId: epoch, key: deriveNodeKey(masterSecret, agent.nodeId, epoch) };
    const evt = topics.node(agent.nodeId, 'evt');
    const state = topics.node(agent.nodeId, 'state');
    const pong = () => ({ kind: 'pong' as const, pingId: newId() });
    const template = sealMessage(evt, pong(), key);
    const total = sized(10_000, 200_000);
    const forge = (i: number): { topic: string; payload: Buffer } => {
      const topic = i % 2 === 0 ? evt : state;
      switch (i % 6) {
        case 0:
          return { topic, payload: randomBytes(Math.floor(Math.random() * 4096)) };
        case 1: {
          const flip = Buffer.from(template);
          const at = Math.floor(i / 6) % flip.byteLength;
          flip[at] = (flip[at] ?? 0) ^ (1 << (Math.floor(i / 6 / flip.byteLength) % 8));
          return { topic: evt, payload: flip };
        }
        case 2:
          return { topic, payload: template.subarray(0, Math.floor(i / 6) % template.byteLength) };
        case 3:
          return { topic: evt, payload: sealMessage(evt, pong(), { keyId: epoch + 1 + (i % 1000), key: key.key }) };
        case 4:
          return { topic: evt, payload: sealMessage(evt, pong(), { keyId: epoch, key: randomBytes(32) }) };
        default: // ing-1's valid event, moved onto ing-2's topic.
          return { topic: topics.node('ing-2', 'evt'), payload: sealMessage(evt, pong(), key) };
      }
    };
    const expected: Record<string, number> = {};
    const scrape = async () => (await stack.admin.request('GET', '/metrics')).text();
    const before = reasons(await scrape());
    const chunksBefore = metricSum(await scrape(), 'edgestelle_ingest_chunks_total');
    const client = await mqtt.connectAsync(stack.mqttUrl, { protocolVersion: 4, clientId: 'forger' });
    try {
      // A bounded in-flight window of QoS 1 publishes.
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < total; i = next++) {
          const { topic, payload } = forge(i);
          const reason = verdict(topic === evt || topic === state ? agent.nodeId : 'ing-2', key, topic, payload);
          expected[reason] = (expected[reason] ?? 0) + 1;
          await client.publishAsync(topic, payload, { qos: 1 });
        }
      };
      await Promise.all(Array.from({ length: 50 }, worker));
    } finally {
      await client.endAsync();
    }
    const counted = (now: Record<string, number>) =>
      Object.entries(now).reduce((n, [reason, v]) => n + v - (before[reason] ?? 0), 0);
    let after: Record<string, number> = {};
    await waitFor(
      () => `${total} refusals on /metrics: ${JSON.stringify(after)}`,
      async () => counted((after = reasons(await scrape()))) >= total,
      { timeoutMs: sized(60_000, 600_000) },
    );
    const delta = Object.fromEntries(
      Object.entries(after)
        .map(([reason, v]) => [reason, v - (before[reason] ?? 0)] as const)
        .filter(([, v]) => v !== 0),
    );
    // The master is still up and its nodes still talk to it.
    const ready = (await fetch(`${stack.master.url}/readyz`)).status;
    const job = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo still here', timeoutMs: 30_000 },
    });
    const [run] = await stack.admin.runs(job.jobId);
    const done = await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete, 30_000);
    recordFault({
      scenario: 'forged events and states on node topics (master)',
      load: `${total} payloads`,
      faults: 'random, bit flips, truncation, unknown key id, wrong key, moved to another node',
      badInputs: total,
      lost: 0,
      doubled: 0,
      observed: { ...delta },
    });
    expect(expected.opened).toBeUndefined();
    expect(delta).toEqual(expected);
    expect(metricSum(await scrape(), 'edgestelle_ingest_chunks_total') - chunksBefore).toBe(done.chunkCount);
    expect(ready).toBe(200);
    expect(done.state).toBe('succeeded');
  }, 900_000);
});
