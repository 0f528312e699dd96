import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';
import { expectedLines } from './support/expected-lines.ts';

/**
 * docs/DESIGN.md "Scale-out": two masters on one PostgreSQL and one Mosquitto, ingest split by a
 * shared subscription, live updates carried between them by LISTEN/NOTIFY.
 */
describe('two masters on one PostgreSQL', () => {
  it('streams a job created on one master to a live client of the other, complete and in order', async () => {
    await using a = await startMaster({ db: 'postgres', broker: 'mosquitto', config: { mqttShared: 'true' } });
    await using shared = await startMaster({ sharedWith: a, config: { mqttShared: 'true' } });
    const b = shared.master;
    // Chunks each master's own ingest committed (the relay re-announces the other's without data).
    const ingested = { a: 0, b: 0 };
    a.master.events.on('chunks', (_runId, chunks) => (ingested.a += chunks.length));
    b.events.on('chunks', (_runId, chunks) => (ingested.b += chunks.length));
    const agents = await Promise.all(['s-1', 's-2', 's-3'].map((n) => a.startAgent(n, { tags: { group: 's' } })));
    const live = await shared.admin.live();
    const lines = 300;
    const job = await a.admin.createJob({
      target: { tags: { group: 's' } },
      spec: {
        // Bursts with pauses: many chunks, so the shared subscription gives each master some.
        command: `i=1; while [ $i -le ${lines} ]; do echo "s line $i"; if [ $((i % 15)) -eq 0 ]; then sleep 0.04; fi; i=$((i+1)); done`,
        timeoutMs: 60_000,
      },
    });
    live.send({ type: 'subscribe', topic: 'job', jobId: job.jobId });
    const runs = await a.admin.runs(job.jobId);
    for (const run of runs) live.send({ type: 'subscribe', topic: 'run', runId: run.runId, fromSeq: 0 });
    for (const run of runs) {
      const done = await a.admin.waitRun(run.runId, (r) => r.complete);
      expect(done.state).toBe('succeeded');
      await waitFor('chunks on master b', () => live.output(run.runId).nextSeq >= done.chunkCount, {
        timeoutMs: 20_000,
      });
      expect(live.output(run.runId).gapsOrDuplicates).toBe(0);
      expect(live.output(run.runId).bytes.toString()).toBe(expectedLines(lines, 's'));
    }
    // Master b's hub heard the run states that master a's ingest (or its own) committed.
    await waitFor(
      'succeeded runs on master b',
      () => live.messages.filter((m) => m.type === 'run' && m.run.state === 'succeeded').length >= agents.length,
      { timeoutMs: 20_000 },
    );
    // The shared subscription split the ingest, so master b saw master a's chunks through the relay.
    expect(ingested.a).toBeGreaterThan(0);
    expect(ingested.b).toBeGreaterThan(0);

    // PostgreSQL drops the relays' LISTEN connections (a failover, a restart): they come back.
    await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%'`.execute(a.master.store.db);
    await waitFor(
      'both relays listening again',
      async () => {
        const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%'`.execute(a.master.store.db);
        return rows[0]?.n === 2;
      },
      { timeoutMs: 15_000 },
    );
    const again = await a.admin.createJob({
      target: { nodeIds: ['s-1'] },
      spec: { command: 'echo after the drop', timeoutMs: 30_000 },
    });
    const [run] = await a.admin.runs(again.jobId);
    live.send({ type: 'subscribe', topic: 'run', runId: run?.runId ?? '', fromSeq: 0 });
    const finished = await a.admin.waitRun(run?.runId ?? '', (r) => r.complete);
    await waitFor(
      'output on b after the drop',
      () => live.output(finished.runId).bytes.toString() === 'after the drop\n',
      { timeoutMs: 20_000 },
    );
    await live.close();
  });
});
