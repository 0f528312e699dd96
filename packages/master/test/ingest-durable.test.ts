import { join } from 'node:path';
import { Topics, newId, type AgentEvent, type Command } from '@edgestelle/protocol';
import { deriveNodeKey, sealMessage } from '@edgestelle/protocol/envelope';
import { tempDir } from '@edgestelle/testkit';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/db/connect.ts';
import type { Store } from '../src/db/store.ts';
import { MasterEvents } from '../src/events.ts';
import { NodeKeys } from '../src/node-keys.ts';
import { Ingest } from '../src/runs/ingest.ts';
import { insertRunningRun } from './support/rows.ts';
import { waitFor } from '@edgestelle/fleet-fixture';

const NODE = 'edge-1';
const RUN = newId();
const NOW = 1_790_000_000_000;

async function seed(store: Store): Promise<void> {
  await store.db
    .insertInto('nodes')
    .values({
      node_id: NODE,
      name: NODE,
      key_epoch: 1,
      mqtt_password_hash: 'x',
      base_tags: '[]',
      tags: '[]',
      facts: null,
      online: 1,
      connection_seq: 1,
      beat: 0,
      last_seen_at: NOW,
      enrolled_at: NOW,
      revoked_at: null,
    })
    .execute();
  await insertRunningRun(store, { jobId: newId(), runId: RUN, nodeId: NODE }, NOW);
}

describe('ingest on SQLite', () => {
  it('announces a batch at commit, acknowledges it only once it is on disk, in order, while the next batch commits', async () => {
    await using dir = await tempDir();
    const store = await openStore(`sqlite:${join(dir.path, 'edgestelle.db')}`);
    try {
      await seed(store);
      // The disk answers when the test says so; the sync itself is the real one.
      let openDisk = (): void => undefined;
      const diskReady = new Promise<void>((resolve) => (openDisk = resolve));
      const slowDisk: Store = { ...store, durable: () => diskReady.then(() => store.durable()) };
      const secret = Buffer.alloc(32, 7);
      const keys = new NodeKeys(store, secret);
      keys.set(NODE, 1, false);
      const events = new MasterEvents();
      const announced: number[] = [];
      events.on('chunks', (_runId, chunks) => announced.push(...chunks.map((c) => c.seq)));
      const sent: Command[] = [];
      const topics = new Topics();
      const ingest = new Ingest({
        store: slowDisk,
        topics,
        keys,
        events,
        clock: { now: () => Date.now() },
        logger: pino({ level: 'silent' }),
        sendCommand: (_nodeId, command) => {
          sent.push(command);
          return Promise.resolve();
        },
        onNodeOnline: () => undefined,
        onJobsChanged: () => undefined,
        flushIntervalMs: 1,
      });
      const topic = topics.node(NODE, 'evt');
      const key = { keyId: 1, key: deriveNodeKey(secret, NODE, 1) };
      const output = (seq: number): AgentEvent => ({
        kind: 'output',
        runId: RUN,
        seq,
        stream: 'stdout',
        data: Buffer.from(`line ${seq}\n`),
      });

      await ingest.accept(topic, sealMessage(topic, output(0), key));
      await waitFor('the first batch announced at its commit', () => announced.length === 1, { timeoutMs: 5_000 });
      await ingest.accept(topic, sealMessage(topic, output(1), key));
      await waitFor('the second batch committed while the first waits for the disk', () => announced.length === 2, {
        timeoutMs: 5_000,
      });
      expect(sent).toEqual([]);

      openDisk();
      await ingest.flush();
      expect(sent).toEqual([
        { kind: 'ack', runs: [{ runId: RUN, seq: 0 }] },
        { kind: 'ack', runs: [{ runId: RUN, seq: 1 }] },
      ]);
      const stored = await store.db.selectFrom('run_chunks').select('seq').where('run_id', '=', RUN).execute();
      expect(stored.map((c) => c.seq).sort()).toEqual([0, 1]);
    } finally {
      await store.close();
    }
  });
});
