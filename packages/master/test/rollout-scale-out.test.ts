import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jobDtoSchema, type JobCreate, type JobDto } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

/**
 * Rollouts with two masters on one PostgreSQL: the master that started a rollout is closed
 * while one job waits at an approval gate and another in a pause between waves; the other
 * master carries both on. Every gate holds once, every run starts once.
 */
describe('rollouts in waves on two masters', () => {
  it('the other master takes over a rollout at its gate; nothing starts twice', async () => {
    await using a = await startMaster({ db: 'postgres', broker: 'mosquitto', config: { mqttShared: 'true' } });
    await using shared = await startMaster({ sharedWith: a, config: { mqttShared: 'true' } });
    const b = shared.master;
    const pausedOn: string[] = [];
    a.master.events.on('jobPaused', (jobId) => pausedOn.push(`a ${jobId}`));
    b.events.on('jobPaused', (jobId) => pausedOn.push(`b ${jobId}`));
    await a.startAgents(4, { prefix: 'r', tags: { group: 'r' } });
    const started = join(a.dir, 'started');
    const job = (rollout: JobCreate['rollout']): JobCreate => ({
      target: { tags: { group: 'r' } },
      spec: { command: `echo "$EDGESTELLE_RUN_ID" >> '${started}'`, timeoutMs: 30_000 },
      rollout,
    });
    const approval = await a.admin.createJob(job({ waves: [{ count: 1 }, { percent: 100 }], approve: true }));
    const pausing = await a.admin.createJob(job({ waves: [{ count: 2 }, { percent: 100 }], wavePauseMs: 2500 }));
    await a.admin.waitJob(approval.jobId, (j) => j.state === 'paused');
    const opensAt =
      (await a.admin.waitJob(pausing.jobId, (j) => j.rollout?.nextWaveAt != null)).rollout?.nextWaveAt ?? 0;
    // Both masters look at the ended waves at once: the gate still holds exactly once.
    await Promise.all([
      a.master.dispatcher.pump(approval.jobId),
      b.dispatcher.pump(approval.jobId),
      a.master.dispatcher.pump(pausing.jobId),
      b.dispatcher.pump(pausing.jobId),
    ]);
    expect(pausedOn).toEqual([`a ${approval.jobId}`]);

    await a.master.close();

    const onB = (method: string, path: string): Promise<JobDto> => shared.admin.api(method, path, jobDtoSchema);
    const approved = await onB('POST', `/api/v1/jobs/${approval.jobId}/resume`);
    expect(approved.rollout?.current).toBe(2);
    // The pause between waves ran out while its master was gone: the other master's sweep finds it.
    await waitFor('the wave pause to run out', () => Date.now() >= opensAt, { timeoutMs: 10_000 });
    await b.sweep();
    const finished = (jobId: string): Promise<JobDto> => shared.admin.waitJob(jobId, (j) => j.finishedAt !== null);
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
