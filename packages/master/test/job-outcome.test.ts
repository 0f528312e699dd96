import { join } from 'node:path';
import { apiErrorSchema, jobHistoryPageSchema, runSpecSchema } from '@edgestelle/protocol';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrationProvider } from '../src/db/migrations.ts';
import { insertRunningRun } from './support/rows.ts';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

describe.each(['sqlite', 'postgres'] as const)('job outcome on %s', (db) => {
  it('is null while a job runs, then succeeded, failed, partial or cancelled as its runs ended', async () => {
    await using stack = await startMaster({ db });
    await stack.startAgent('edge-a');
    await stack.startAgent('edge-b');
    const both = { nodeIds: ['edge-a', 'edge-b'] };
    const finished = async (command: string) => {
      const job = await stack.admin.createJob({ target: both, spec: { command, timeoutMs: 60_000 } });
      return stack.admin.waitJob(job.jobId, (j) => j.finishedAt !== null);
    };

    expect((await finished('true')).outcome).toBe('succeeded');
    const failed = await finished('exit 3');
    expect([failed.state, failed.outcome]).toEqual(['finished', 'failed']);
    // mkdir is atomic: exactly one of the two runs makes the directory.
    const partial = await finished(`mkdir ${join(stack.dir, 'once')}`);
    expect([partial.counts.succeeded, partial.counts.failed, partial.outcome]).toEqual([1, 1, 'partial']);

    const long = await stack.admin.createJob({ target: both, spec: { command: 'sleep 30', timeoutMs: 60_000 } });
    const running = await stack.admin.waitJob(long.jobId, (j) => j.counts.running === 2);
    expect(running.outcome).toBeNull();
    await stack.admin.request('POST', `/api/v1/jobs/${long.jobId}/cancel`);
    const cancelled = await stack.admin.waitJob(long.jobId, (j) => j.finishedAt !== null);
    expect([cancelled.state, cancelled.outcome]).toEqual(['cancelled', 'cancelled']);

    const page = await stack.admin.api('GET', '/api/v1/jobs?outcome=failed,partial', jobHistoryPageSchema);
    expect(page.items.map((j) => j.jobId).sort()).toEqual([failed.jobId, partial.jobId].sort());
    const refused = await stack.admin.request('GET', '/api/v1/jobs?outcome=broken');
    expect(refused.status).toBe(400);
  });

  it('online-only leaves offline targets out, by flag or by a deadline of 0; none online is refused', async () => {
    await using stack = await startMaster({ db });
    await stack.startAgent('edge-a', { tags: { site: 'x' } });
    const away = await stack.startAgent('edge-b', { tags: { site: 'x' } });
    await away.stop();
    await waitFor('edge-b offline', async () => !(await stack.master.nodes.get('edge-b')).online);

    for (const request of [{ onlineOnly: true }, { offlineDeadlineMs: 0 }]) {
      const job = await stack.admin.createJob({
        target: { tags: { site: 'x' } },
        spec: { command: 'true', timeoutMs: 60_000 },
        ...request,
      });
      expect([job.nodeCount, job.leftOutNodeIds]).toEqual([1, ['edge-b']]);
      // A deadline of 0 used to expire every run, the online node's too.
      const done = await stack.admin.waitJob(job.jobId, (j) => j.finishedAt !== null);
      expect([done.outcome, done.counts.succeeded, done.counts.expired]).toEqual(['succeeded', 1, 0]);
      expect(done.deadlineAt - done.createdAt).toBe(600_000);
    }
    const none = await stack.admin.request('POST', '/api/v1/jobs', {
      target: { nodeIds: ['edge-b'] },
      spec: { command: 'true', timeoutMs: 60_000 },
      onlineOnly: true,
    });
    expect(none.status).toBe(400);
    const refused = apiErrorSchema.parse(await none.json());
    expect([refused.code, refused.message]).toEqual(['no_online_nodes', expect.stringMatching(/^none of the 1 node/)]);
    const waiting = await stack.admin.createJob({
      target: { nodeIds: ['edge-b'] },
      spec: { command: 'true', timeoutMs: 60_000 },
    });
    expect(waiting.leftOutNodeIds).toEqual([]);
    stack.clock.offsetMs += 600_001;
    await stack.master.sweep();
    const expired = await stack.admin.waitJob(waiting.jobId, (j) => j.finishedAt !== null);
    expect([expired.counts.expired, expired.outcome]).toEqual([1, 'failed']);
  });

  it('migration 0006 gives finished jobs from before the outcome their runs say', async () => {
    await using stack = await startMaster({ db });
    const store = stack.master.store;
    const nowMs = 1_790_000_000_000;
    const rows: Array<[string, string, string[]]> = [
      ['job-ok', 'finished', ['succeeded', 'succeeded']],
      ['job-bad', 'finished', ['failed', 'expired']],
      ['job-mixed', 'stopped', ['succeeded', 'failed', 'cancelled']],
      ['job-stop', 'cancelled', ['succeeded', 'cancelled']],
      ['job-live', 'running', ['running']],
    ];
    for (const [jobId, state, runStates] of rows) {
      await insertRunningRun(store, { jobId, runId: `${jobId}-0`, nodeId: 'edge-0' }, nowMs);
      for (const [i, runState] of runStates.entries()) {
        if (i > 0) {
          await store.db
            .insertInto('runs')
            .values({
              run_id: `${jobId}-${i}`,
              job_id: jobId,
              node_id: `edge-${i}`,
              state: runState,
              created_at: nowMs,
              updated_at: nowMs,
            })
            .execute();
        }
      }
      await store.db.updateTable('runs').set({ state: runStates[0] }).where('run_id', '=', `${jobId}-0`).execute();
      await store.db
        .updateTable('jobs')
        .set({ state, finished_at: state === 'running' ? null : nowMs })
        .where('job_id', '=', jobId)
        .execute();
    }
    // As a master before 0006 left them. The migration runs again by itself: reopening with its
    // record deleted would refuse, since later migrations ran after it.
    await sql`DROP INDEX jobs_outcome`.execute(store.db);
    await sql`ALTER TABLE jobs DROP COLUMN outcome`.execute(store.db);
    await sql`ALTER TABLE jobs DROP COLUMN left_out`.execute(store.db);
    const migrations = await migrationProvider(db).getMigrations();
    await migrations['0006_job_outcome']?.up(store.db);

    const outcomes = await store.db.selectFrom('jobs').select(['job_id', 'outcome']).orderBy('job_id').execute();
    expect(Object.fromEntries(outcomes.map((r) => [r.job_id, r.outcome]))).toEqual({
      'job-bad': 'failed',
      'job-live': null,
      'job-mixed': 'partial',
      'job-ok': 'succeeded',
      'job-stop': 'cancelled',
    });
  });
});

describe('job outcome with two masters on one PostgreSQL', () => {
  it('a cancel on one master racing the finish on the other leaves one consistent state and outcome', async () => {
    await using a = await startMaster({ db: 'postgres', broker: 'mosquitto', config: { mqttShared: 'true' } });
    await using shared = await startMaster({ sharedWith: a, config: { mqttShared: 'true' } });
    const b = shared.master;
    const nowMs = Date.now();
    const spec = runSpecSchema.parse({ command: 'true', timeoutMs: 1000 });
    for (let i = 0; i < 12; i += 1) {
      const jobId = `race-job-${i}`;
      await insertRunningRun(a.master.store, { jobId, runId: `race-run-${i}`, nodeId: 'ghost' }, nowMs);
      await a.master.store.db
        .updateTable('jobs')
        .set({ spec: JSON.stringify(spec), target: JSON.stringify({ all: true }) })
        .where('job_id', '=', jobId)
        .execute();
      // The node reported its exit: the job is done but not finished yet.
      await a.master.store.db.updateTable('runs').set({ state: 'succeeded' }).where('job_id', '=', jobId).execute();
      const [, afterCancel] = await Promise.all([a.master.dispatcher.pump(jobId), b.dispatcher.cancelJob(jobId)]);
      await Promise.all([a.master.dispatcher.pump(jobId), b.dispatcher.pump(jobId)]);
      const job = await b.store.db
        .selectFrom('jobs')
        .select(['state', 'outcome', 'finished_at'])
        .where('job_id', '=', jobId)
        .executeTakeFirstOrThrow();
      expect(job.finished_at).not.toBeNull();
      // A cancel that took is never overwritten by a finish that read the job before it.
      if (afterCancel.state === 'cancelled') expect(job.state).toBe('cancelled');
      expect([
        ['finished', 'succeeded'],
        ['cancelled', 'cancelled'],
      ]).toContainEqual([job.state, job.outcome]);
    }
  });
});
