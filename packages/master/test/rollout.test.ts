import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiErrorSchema, jobDtoSchema, jobHistoryPageSchema, type JobCreate } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMaster, type InProcessMaster } from '@edgestelle/fleet-fixture';

/**
 * Rollouts in waves (docs/API.md "Rollouts in waves") on a real master with ten real agents:
 * the gate holds a wave whose failure rate is too high, waits for approval, pauses between
 * waves; operators pause, resume and cancel.
 */
describe('rollouts in waves', () => {
  let stack: InProcessMaster;
  const failFile = (): string => join(stack.dir, 'fail-runs');
  const paused: Array<[string, string]> = [];

  beforeAll(async () => {
    stack = await startMaster();
    stack.master.events.on('jobPaused', (jobId, reason) => paused.push([jobId, reason]));
    await stack.startAgents(10, { prefix: 'w', tags: { fleet: 'w' } });
  }, 60_000);
  afterAll(async () => {
    await stack[Symbol.asyncDispose]();
  });

  /**
   * Each run fails if the test listed its run id in the fail file by the time it looks, 0.4 s
   * after it started: a test lists runs of a later wave, which start only after the wave before.
   */
  function job(rollout: JobCreate['rollout'], extra: Partial<JobCreate> = {}): JobCreate {
    return {
      target: { tags: { fleet: 'w' } },
      spec: {
        command: `sleep 0.4; if grep -qx "$EDGESTELLE_RUN_ID" '${failFile()}' 2>/dev/null; then exit 3; fi; echo ok`,
        timeoutMs: 30_000,
      },
      ...(rollout === undefined ? {} : { rollout }),
      ...extra,
    };
  }

  it('holds a wave whose failure rate is over the limit, and goes on when resumed', async () => {
    const created = await stack.admin.createJob(
      job({ waves: [{ count: 1 }, { percent: 50 }, { percent: 100 }], maxFailureRate: 25 }),
    );
    expect(created.rollout?.plan.map((w) => [w.wave, w.size])).toEqual([
      [1, 1],
      [2, 4],
      [3, 5],
    ]);
    const runs = await stack.admin.runs(created.jobId);
    expect(runs.map((r) => r.wave)).toEqual([1, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    // Two of wave 2's four runs fail: 50%, over the 25% allowed. Written before wave 1 ends, so
    // before any run of wave 2 can start.
    const wave2 = runs.filter((r) => r.wave === 2);
    await writeFile(failFile(), `${wave2[0]?.runId}\n${wave2[1]?.runId}\n`);

    const held = await stack.admin.waitJob(created.jobId, (j) => j.state === 'paused');
    expect(held.pausedReason).toBe(
      'wave 2 of 3: 2 of 4 runs failed (50%), more than the 25% allowed; resume to go on anyway, cancel to stop',
    );
    expect(held.rollout?.current).toBe(2);
    expect(held.rollout?.plan.map((w) => [w.state, w.ended, w.failed])).toEqual([
      ['passed', 1, 0],
      ['gate', 4, 2],
      ['pending', 0, 0],
    ]);
    expect(held.counts).toMatchObject({ succeeded: 3, failed: 2, queued: 5 });
    expect(paused.filter(([jobId]) => jobId === created.jobId)).toEqual([[created.jobId, held.pausedReason]]);
    // Held means held: a sweep or another pump starts nothing of wave 3.
    await stack.master.sweep();
    await stack.master.dispatcher.pump(created.jobId);
    expect((await stack.admin.runs(created.jobId)).filter((r) => r.wave === 3).map((r) => r.state)).toEqual(
      Array(5).fill('queued'),
    );

    const resumed = await stack.admin.api('POST', `/api/v1/jobs/${created.jobId}/resume`, jobDtoSchema);
    expect(resumed.pausedReason).toBeNull();
    expect(resumed.rollout?.current).toBe(3);
    const done = await stack.admin.waitJob(created.jobId, (j) => j.finishedAt !== null);
    expect(done.state).toBe('finished');
    expect(done.counts).toMatchObject({ succeeded: 8, failed: 2 });
    // A paused job has no outcome yet; it gets one when it ends.
    expect(held.outcome).toBeNull();
    expect(done.outcome).toBe('partial');
    expect(done.rollout?.plan.map((w) => w.state)).toEqual(['passed', 'passed', 'passed']);
    const audit = await stack.master.store.db
      .selectFrom('audit_events')
      .select(['actor', 'action'])
      .where('target', '=', `job:${created.jobId}`)
      .orderBy('at')
      .execute();
    expect(audit).toEqual([
      { actor: 'admin', action: 'job.create' },
      { actor: 'system', action: 'job.pause' },
      { actor: 'admin', action: 'job.resume' },
    ]);
  }, 60_000);

  it('waits for approval at every gate; cancelling there leaves the rest not_started', async () => {
    const created = await stack.admin.createJob(
      job({ waves: [{ count: 2 }, { count: 5 }, { percent: 100 }], approve: true }),
    );
    const first = await stack.admin.waitJob(created.jobId, (j) => j.state === 'paused');
    expect(first.pausedReason).toBe('wave 1 of 3 ended (0 of 2 runs failed): waiting for approval to start wave 2');
    await stack.admin.api('POST', `/api/v1/jobs/${created.jobId}/resume`, jobDtoSchema);
    // A second approval of the same gate (a double click, another operator) releases nothing more.
    await stack.admin.api('POST', `/api/v1/jobs/${created.jobId}/resume`, jobDtoSchema);
    const second = await stack.admin.waitJob(created.jobId, (j) => j.state === 'paused' && j.rollout?.current === 2);
    expect(second.counts).toMatchObject({ succeeded: 5, queued: 5 });

    const cancelled = await stack.admin.api('POST', `/api/v1/jobs/${created.jobId}/cancel`, jobDtoSchema);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.outcome).toBe('cancelled');
    expect(cancelled.counts).toMatchObject({ succeeded: 5, not_started: 5 });
    expect(cancelled.rollout?.plan.map((w) => w.state)).toEqual(['passed', 'gate', 'skipped']);
    const rest = (await stack.admin.runs(created.jobId)).filter((r) => r.wave === 3);
    expect(new Set(rest.map((r) => r.reason))).toEqual(
      new Set([
        'not started: the rollout was cancelled by admin at the gate after wave 2 (wave 2 of 3 ended (0 of 3 runs failed): waiting for approval to start wave 3)',
      ]),
    );
  }, 60_000);

  it('maxFailures stops the whole rollout: the waves never released end not_started', async () => {
    const created = await stack.admin.createJob({
      target: { tags: { fleet: 'w' } },
      spec: { command: 'exit 3', timeoutMs: 30_000 },
      maxFailures: { count: 1 },
      rollout: { waves: [{ count: 2 }, { percent: 100 }], maxFailureRate: 100 },
    });
    const done = await stack.admin.waitJob(created.jobId, (j) => j.finishedAt !== null);
    expect(done.state).toBe('stopped');
    expect(done.counts).toMatchObject({ failed: 2, not_started: 8 });
    expect(done.rollout?.plan.map((w) => w.state)).toEqual(['gate', 'skipped']);
    const reasons = new Set((await stack.admin.runs(created.jobId)).filter((r) => r.wave === 2).map((r) => r.reason));
    expect(reasons.size).toBe(1);
    expect([...reasons][0]).toMatch(/^not started: the job stopped after [12] failed runs? \(maxFailures\)$/);
  }, 60_000);

  it('pauses between waves, then starts the next wave by itself', async () => {
    const created = await stack.admin.createJob(job({ waves: [{ count: 1 }, { percent: 100 }], wavePauseMs: 400 }));
    const pausing = await stack.admin.waitJob(created.jobId, (j) => j.rollout?.nextWaveAt != null);
    expect(pausing.state).toBe('running');
    expect(pausing.rollout?.plan.map((w) => w.state)).toEqual(['gate', 'pending']);
    const done = await stack.admin.waitJob(created.jobId, (j) => j.finishedAt !== null);
    expect(done.counts).toMatchObject({ succeeded: 10 });
    const [firstWave] = (await stack.admin.runs(created.jobId)).filter((r) => r.wave === 1);
    const secondWave = (await stack.admin.runs(created.jobId)).filter((r) => r.wave === 2);
    const pausedFor = Math.min(...secondWave.map((r) => r.startedAt ?? r.endedAt ?? 0)) - (firstWave?.endedAt ?? 0);
    expect(pausedFor).toBeGreaterThanOrEqual(400);
  }, 60_000);

  it('an operator pauses any running job: nothing more starts until it is resumed', async () => {
    const created = await stack.admin.createJob(job(undefined, { concurrency: { count: 2 } }));
    const pausedJob = await stack.admin.api('POST', `/api/v1/jobs/${created.jobId}/pause`, jobDtoSchema);
    expect(pausedJob.state).toBe('paused');
    expect(pausedJob.pausedReason).toBe('paused by admin');
    expect(pausedJob.rollout).toBeNull();
    // The two runs already sent end; the other eight wait.
    const settled = await stack.admin.waitJob(created.jobId, (j) => (j.counts.succeeded ?? 0) === 2);
    expect(settled.counts).toMatchObject({ queued: 8, succeeded: 2 });
    await stack.master.dispatcher.pump(created.jobId);
    expect((await stack.admin.api('GET', `/api/v1/jobs/${created.jobId}`, jobDtoSchema)).counts.queued).toBe(8);
    await stack.admin.api('POST', `/api/v1/jobs/${created.jobId}/resume`, jobDtoSchema);
    const done = await stack.admin.waitJob(created.jobId, (j) => j.finishedAt !== null);
    expect(done).toMatchObject({ state: 'finished', pausedReason: null });
    expect(done.counts.succeeded).toBe(10);
  }, 60_000);

  it('refuses a plan that is not a rollout, and a pause or resume that does not fit, changing nothing', async () => {
    const before = await stack.admin.api('GET', '/api/v1/jobs?limit=200', jobHistoryPageSchema);
    const bad = async (rollout: unknown): Promise<{ status: number; message: string }> => {
      const response = await stack.admin.request('POST', '/api/v1/jobs', { ...job(undefined), rollout });
      return { status: response.status, message: apiErrorSchema.parse(await response.json()).message };
    };
    expect(await bad({ waves: [{ count: 1 }, { count: 5 }] })).toEqual({
      status: 400,
      message: expect.stringContaining('the waves cover 5 of the 10 target nodes') as string,
    });
    expect((await bad({ waves: [{ percent: 10 }, { percent: 50 }] })).message).toContain('end with 100%');
    expect((await bad({ waves: [{ percent: 50 }, { percent: 10 }, { percent: 100 }] })).message).toContain(
      'must be larger than wave 1',
    );
    expect((await bad({ waves: [{ count: 1 }, { percent: 100 }], approve: true, wavePauseMs: 5 })).message).toContain(
      'not both',
    );
    expect((await bad({ waves: [{ count: 0 }, { percent: 100 }] })).status).toBe(400);
    const after = await stack.admin.api('GET', '/api/v1/jobs?limit=200', jobHistoryPageSchema);
    expect(after.items.length).toBe(before.items.length);

    const finished = before.items.find((j) => j.finishedAt !== null);
    if (finished === undefined) throw new Error('an earlier test left no finished job');
    for (const verb of ['pause', 'resume']) {
      const response = await stack.admin.request('POST', `/api/v1/jobs/${finished.jobId}/${verb}`);
      expect(response.status).toBe(409);
      expect(apiErrorSchema.parse(await response.json()).code).toBe('conflict');
    }
    expect((await stack.admin.request('POST', '/api/v1/jobs/01jd3v7k2m9q8r5t4w6x8y0z2a/pause')).status).toBe(404);
  });
});
