import { nodeDtoSchema } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { startMaster } from './start-master.ts';
import { waitFor } from './wait-for.ts';

describe('fleet agents', () => {
  it('runs a job on in-process and child agents enrolled through the API; a killed child goes offline', async () => {
    await using fleet = await startMaster();
    const [inProcess] = await fleet.startAgents(1, { prefix: 'near', tags: { site: 'lab' } });
    const child = await fleet.startAgent('far-1', { mode: 'child', tags: { site: 'lab' } });
    expect(inProcess?.agent.stats().connected).toBe(true);

    const job = await fleet.admin.createJob({
      target: { tags: { site: 'lab' } },
      spec: { command: 'echo hi', timeoutMs: 30_000 },
    });
    for (const run of await fleet.admin.runs(job.jobId)) {
      const done = await fleet.admin.waitRun(run.runId, (r) => r.complete);
      expect(done.state).toBe('succeeded');
      expect((await fleet.admin.rawOutput(run.runId)).toString()).toBe('hi\n');
    }

    await child.kill();
    await waitFor(
      'far-1 offline',
      async () => !(await fleet.admin.api('GET', '/api/v1/nodes/far-1', nodeDtoSchema)).online,
    );
  });

  it('makes users through the API, each with a client of its own role', async () => {
    await using fleet = await startMaster();
    const viewer = await fleet.admin.createUser('vic', 'viewer');
    expect((await viewer.client.request('GET', '/api/v1/nodes')).status).toBe(200);
    await expect(
      viewer.client.createJob({ target: { all: true }, spec: { command: 'true', timeoutMs: 30_000 } }),
    ).rejects.toThrow(/POST \/api\/v1\/jobs → 403/);
  });
});
