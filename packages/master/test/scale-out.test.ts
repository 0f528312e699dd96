import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jobDtoSchema } from '@edgestelle/protocol';
import { tempDir } from '@edgestelle/testkit';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { expectedLines, openLive, startPeerMaster, startSharedPair, startStack, waitFor } from './support/stack.ts';

/**
 * Scale-out: two masters on one PostgreSQL and one Mosquitto, ingest split by a shared
 * subscription, live updates carried between them by LISTEN/NOTIFY.
 */
describe('two masters on one PostgreSQL', () => {
  it('streams a job created on one master to a live client of the other, complete and in order', async () => {
    await using pair = await startSharedPair();
    const { a, b } = pair;
    // Chunks each master's own ingest committed (the relay re-announces the other's without data).
    const ingested = { a: 0, b: 0 };
    a.master.events.on('chunks', (_runId, chunks) => (ingested.a += chunks.length));
    b.events.on('chunks', (_runId, chunks) => (ingested.b += chunks.length));
    const agents = await Promise.all(['s-1', 's-2', 's-3'].map((n) => a.agent(n, { group: 's' })));
    const users = await b.store.db.selectFrom('users').select('user_id').executeTakeFirstOrThrow();
    const { token } = await b.auth.createApiToken(users.user_id, 'b', null);
    const live = await openLive(b.url, { authorization: `Bearer ${token}` });
    const lines = 300;
    const job = await a.createJob({
      target: { tags: { group: 's' } },
      spec: {
        // Bursts with pauses: many chunks, so the shared subscription gives each master some.
        command: `i=1; while [ $i -le ${lines} ]; do echo "s line $i"; if [ $((i % 15)) -eq 0 ]; then sleep 0.04; fi; i=$((i+1)); done`,
        timeoutMs: 60_000,
      },
    });
    live.send({ type: 'subscribe', topic: 'job', jobId: job.jobId });
    const runs = await a.runs(job.jobId);
    for (const run of runs) live.send({ type: 'subscribe', topic: 'run', runId: run.runId, fromSeq: 0 });
    for (const run of runs) {
      const done = await a.waitRun(run.runId, (r) => r.complete);
      expect(done.state).toBe('succeeded');
      await waitFor(() => live.output(run.runId).nextSeq >= done.chunkCount, 20_000, 'chunks on master b');
      expect(live.output(run.runId).gapsOrDuplicates).toBe(0);
      expect(live.output(run.runId).bytes.toString()).toBe(expectedLines(lines, 's'));
    }
    // Master b's hub heard the run states that master a's ingest (or its own) committed.
    await waitFor(
      () => live.messages.filter((m) => m.type === 'run' && m.run.state === 'succeeded').length >= agents.length,
      20_000,
      'succeeded runs on master b',
    );
    // The shared subscription split the ingest, so master b saw master a's chunks through the relay.
    expect(ingested.a).toBeGreaterThan(0);
    expect(ingested.b).toBeGreaterThan(0);

    // PostgreSQL drops the relays' LISTEN connections (a failover, a restart): they come back.
    await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%'`.execute(a.master.store.db);
    await waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%'`.execute(a.master.store.db);
        return rows[0]?.n === 2;
      },
      15_000,
      'both relays listening again',
    );
    const again = await a.createJob({
      target: { nodeIds: ['s-1'] },
      spec: { command: 'echo after the drop', timeoutMs: 30_000 },
    });
    const [run] = await a.runs(again.jobId);
    live.send({ type: 'subscribe', topic: 'run', runId: run?.runId ?? '', fromSeq: 0 });
    const finished = await a.waitRun(run?.runId ?? '', (r) => r.complete);
    await waitFor(
      () => live.output(finished.runId).bytes.toString() === 'after the drop\n',
      20_000,
      'output on b after the drop',
    );
    await live.close();
  });

  it('dispatches a job with secret variables that another master created: the shared master key opens them', async () => {
    await using keyDir = await tempDir();
    const masterKeyFile = join(keyDir.path, 'master.key');
    await writeFile(masterKeyFile, Buffer.alloc(32, 7), { mode: 0o600 });
    await using a = await startStack('postgres', 'mosquitto', {}, { mqttShared: 'true', masterKeyFile });
    const agent = await a.agent('vault-1');
    // Offline while the job is made, so the master that made it cannot be the one that sends it.
    await agent.stop();
    await waitFor(async () => !(await a.master.nodes.get(agent.nodeId)).online, 15_000, 'vault-1 offline');
    const b = await startPeerMaster(a, masterKeyFile, join(keyDir.path, 'master-b'));
    const secret = 'pg-scale-out-s3cret-value';
    let jobId: string;
    try {
      const users = await b.store.db.selectFrom('users').select('user_id').executeTakeFirstOrThrow();
      const { token } = await b.auth.createApiToken(users.user_id, 'b', null);
      const response = await fetch(`${b.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          target: { nodeIds: [agent.nodeId] },
          spec: { command: 'echo "$DB_PASSWORD"', timeoutMs: 30_000 },
          secretEnv: { DB_PASSWORD: secret },
        }),
      });
      expect(response.status).toBe(201);
      jobId = jobDtoSchema.parse(await response.json()).jobId;
    } finally {
      await b.close();
    }
    // Only master a is left: it opens what b sealed when the node comes back.
    await agent.start();
    const [run] = await a.runs(jobId);
    const done = await a.waitRun(run?.runId ?? '', (r) => r.complete);
    expect(done.state).toBe('succeeded');
    const raw = await a.request('GET', `/api/v1/runs/${done.runId}/output/raw`);
    expect(await raw.text()).toBe(`${secret}\n`);
  });
});
