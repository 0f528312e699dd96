import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jobDtoSchema, type JobCreate, type JobDto } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { startSharedPair, waitFor } from './support/stack.ts';

/**
 * Rollouts with two masters on one PostgreSQL: the master that started a rollout is closed
 * while one job waits at an approval gate and another in a pause between waves; the other
 * master carries both on. Every gate holds once, every run starts once.
 */
describe('rollouts in waves on two masters', () => {
  it('the other master takes over a rollout at its gate; nothing starts twice', async () => {
    await using pair = await startSharedPair();
    const { a, b } = pair;
    const pausedOn: string[] = [];
    a.master.events.on('jobPaused', (jobId) => pausedOn.push(`a ${jobId}`));
    b.events.on('jobPaused', (jobId) => pausedOn.push(`b ${jobId}`));
    await Promise.all(['r-1', 'r-2', 'r-3', 'r-4'].map((n) => a.agent(n, { group: 'r' })));
    const started = join(a.dir, 'started');
    const job = (rollout: JobCreate['rollout']): JobCreate => ({
      target: { tags: { group: 'r' } },
      spec: { command: `echo "$EDGESTELLE_RUN_ID" >> '${started}'`, timeoutMs: 30_000 },
      rollout,
    });
    const approval = await a.createJob(job({ waves: [{ count: 1 }, { percent: 100 }], approve: true }));
    const pausing = await a.createJob(job({ waves: [{ count: 2 }, { percent: 100 }], wavePauseMs: 2500 }));
    await a.waitJob(approval.jobId, (j) => j.state === 'paused');
    const opensAt = (await a.waitJob(pausing.jobId, (j) => j.rollout?.nextWaveAt != null)).rollout?.nextWaveAt ?? 0;
    // Both masters look at the ended waves at once: the gate still holds exactly once.
    await Promise.all([
      a.master.dispatcher.pump(approval.jobId),
      b.dispatcher.pump(approval.jobId),
      a.master.dispatcher.pump(pausing.jobId),
      b.dispatcher.pump(pausing.jobId),
    ]);
    expect(pausedOn).toEqual([`a ${approval.jobId}`]);

    await a.master.close();

    const user = await b.store.db.selectFrom('users').select('user_id').executeTakeFirstOrThrow();
    const { token } = await b.auth.createApiToken(user.user_id, 'b', null);
    const onB = async (method: string, path: string): Promise<JobDto> => {
      const response = await fetch(`${b.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      return jobDtoSchema.parse(await response.json());
    };
    const approved = await onB('POST', `/api/v1/jobs/${approval.jobId}/resume`);
    expect(approved.rollout?.current).toBe(2);
    // The pause between waves ran out while its master was gone: the other master's sweep finds it.
    await waitFor(() => Date.now() >= opensAt, 10_000, 'the wave pause to run out');
    await b.sweep();
    const finished = async (jobId: string): Promise<JobDto> => {
      let last: JobDto | undefined;
      await waitFor(
        async () => {
          last = await onB('GET', `/api/v1/jobs/${jobId}`);
          return last.finishedAt !== null;
        },
        20_000,
        () => `job ${jobId} to finish: ${JSON.stringify(last)}`,
      );
      if (last === undefined) throw new Error('unreachable');
      return last;
    };
    for (const jobId of [approval.jobId, pausing.jobId]) {
      const done = await finished(jobId);
      expect(done.counts.succeeded).toBe(4);
      expect(done.rollout?.plan.map((w) => w.state)).toEqual(['passed', 'passed']);
    }
    const lines = (await readFile(started, 'utf8')).trim().split('\n');
    expect(lines.length).toBe(8);
    expect(new Set(lines).size).toBe(8);
    expect(pausedOn).toEqual([`a ${approval.jobId}`]);
    const pauses = await b.store.db
      .selectFrom('audit_events')
      .select('target')
      .where('action', '=', 'job.pause')
      .execute();
    expect(pauses).toEqual([{ target: `job:${approval.jobId}` }]);
  }, 90_000);
});
