import { describe, expect, it } from 'vitest';
import { type BrokerKind, type DbKind, startMaster, waitFor } from '@edgestelle/fleet-fixture';
import { expectedLines } from './support/expected-lines.ts';

/**
 * Issue 4's whole run path with real agents (createAgent from @edgestelle/agent, real child
 * processes for the scripts), through the embedded broker and a private Mosquitto, on SQLite
 * and PostgreSQL.
 */
const matrix: Array<[BrokerKind, DbKind]> = [
  ['embedded', 'sqlite'],
  ['embedded', 'postgres'],
  ['mosquitto', 'sqlite'],
  ['mosquitto', 'postgres'],
];

const LINES = 400;
// Slow enough that a client can drop and come back mid-run; prints LINES lines labelled by node.
const script = (label: string) =>
  `i=1; while [ $i -le ${LINES} ]; do echo "${label} line $i"; if [ $((i % 40)) -eq 0 ]; then sleep 0.05; fi; i=$((i+1)); done`;

describe.each(matrix)('run path through %s broker on %s', (brokerKind, dbKind) => {
  it('streams a job on 3 agents chosen by tag to a WebSocket client, byte for byte, and a reconnecting client misses nothing', async () => {
    await using stack = await startMaster({ db: dbKind, broker: brokerKind });
    const web = await Promise.all(
      ['web-1', 'web-2', 'web-3'].map((n) => stack.startAgent(n, { tags: { role: 'web' } })),
    );
    await stack.startAgent('db-1', { tags: { role: 'db' } });
    const live = await stack.admin.live();
    const job = await stack.admin.createJob({
      target: { tags: { role: 'web' } },
      spec: {
        script: { interpreter: 'sh', body: script('$EDGE_LABEL') },
        env: { EDGE_LABEL: 'web' },
        timeoutMs: 60_000,
      },
    });
    expect(job.nodeCount).toBe(3);
    const runs = await stack.admin.runs(job.jobId);
    expect(runs.map((r) => r.nodeId).sort()).toEqual(web.map((a) => a.nodeId).sort());
    for (const run of runs) live.send({ type: 'subscribe', topic: 'run', runId: run.runId, fromSeq: 0 });

    // A second client drops after its first chunk and resumes from the seq after its last one.
    const first = runs[0];
    if (first === undefined) throw new Error('no run');
    let flaky = await stack.admin.live();
    flaky.send({ type: 'subscribe', topic: 'run', runId: first.runId, fromSeq: 0 });
    await waitFor('a first chunk', () => flaky.output(first.runId).nextSeq > 0, { timeoutMs: 20_000 });
    const before = flaky.output(first.runId);
    await flaky.close();
    flaky = await stack.admin.live();
    flaky.send({ type: 'subscribe', topic: 'run', runId: first.runId, fromSeq: before.nextSeq });

    const expected = Buffer.from(expectedLines(LINES, 'web'));
    for (const run of runs) {
      const done = await stack.admin.waitRun(run.runId, (r) => r.complete);
      expect(done.state).toBe('succeeded');
      expect(done.exitCode).toBe(0);
      await waitFor('live chunks', () => live.output(run.runId).nextSeq >= done.chunkCount, { timeoutMs: 20_000 });
      const seen = live.output(run.runId);
      expect(seen.gapsOrDuplicates).toBe(0);
      expect(seen.bytes.toString()).toBe(expected.toString());
      const raw = await stack.admin.request('GET', `/api/v1/runs/${run.runId}/output/raw`);
      expect(Buffer.from(await raw.arrayBuffer()).toString()).toBe(expected.toString());
    }
    const done = await stack.admin.waitRun(first.runId, (r) => r.complete);
    await waitFor('resumed chunks', () => flaky.output(first.runId).nextSeq >= done.chunkCount, { timeoutMs: 20_000 });
    const resumed = flaky.output(first.runId);
    expect(resumed.gapsOrDuplicates).toBe(0);
    expect(Buffer.concat([before.bytes, resumed.bytes]).toString()).toBe(expected.toString());
    expect(flaky.messages.some((m) => m.type === 'replayed')).toBe(true);
    const finished = await stack.admin.waitJob(job.jobId, (j) => j.state === 'finished');
    expect(finished.counts.succeeded).toBe(3);
    await live.close();
    await flaky.close();
  });

  it("starts an offline node's run when it comes back before the deadline, and expires it after", async () => {
    await using stack = await startMaster({ db: dbKind, broker: brokerKind });
    const agent = await stack.startAgent('edge-1');
    await agent.stop();
    await waitFor('offline', async () => !(await stack.master.nodes.get(agent.nodeId)).online, { timeoutMs: 15_000 });

    const waits = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo back', timeoutMs: 30_000 },
      offlineDeadlineMs: 120_000,
    });
    const [queued] = await stack.admin.runs(waits.jobId);
    expect(queued?.state).toBe('queued');
    await stack.master.sweep();
    expect((await stack.admin.runs(waits.jobId))[0]?.state).toBe('queued');
    await agent.start();
    const ran = await stack.admin.waitRun(queued?.runId ?? '', (r) => r.complete);
    expect(ran.state).toBe('succeeded');
    const out = await stack.admin.request('GET', `/api/v1/runs/${ran.runId}/output/raw`);
    expect(await out.text()).toBe('back\n');

    await agent.stop();
    await waitFor('offline again', async () => !(await stack.master.nodes.get(agent.nodeId)).online, {
      timeoutMs: 15_000,
    });
    const late = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo never', timeoutMs: 30_000 },
      offlineDeadlineMs: 60_000,
    });
    stack.clock.offsetMs += 61_000;
    await stack.master.sweep();
    const [expired] = await stack.admin.runs(late.jobId);
    expect(expired?.state).toBe('expired');
    expect(expired?.reason).toMatch(/offline/);
    const job = await stack.admin.waitJob(late.jobId, (j) => j.finishedAt !== null);
    expect(job.counts.expired).toBe(1);
  });

  it('cancels a run before delivery and a run in the middle of running', async () => {
    await using stack = await startMaster({ db: dbKind, broker: brokerKind });
    const agent = await stack.startAgent('edge-1');
    await agent.stop();
    await waitFor('offline', async () => !(await stack.master.nodes.get(agent.nodeId)).online, { timeoutMs: 15_000 });
    const undelivered = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo no', timeoutMs: 30_000 },
    });
    const [queued] = await stack.admin.runs(undelivered.jobId);
    const cancelled = await stack.admin.request('POST', `/api/v1/runs/${queued?.runId ?? ''}/cancel`);
    expect(cancelled.status).toBe(200);
    const cancelledRun = await stack.admin.waitRun(queued?.runId ?? '', (r) => r.state === 'cancelled');
    expect(cancelledRun.reason).toMatch(/before delivery/);

    await agent.start();
    const long = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo started; sleep 30', timeoutMs: 60_000, killGraceMs: 1000 },
    });
    const [running] = await stack.admin.runs(long.jobId);
    await stack.admin.waitRun(running?.runId ?? '', (r) => r.state === 'running' && r.chunkCount > 0);
    await stack.admin.request('POST', `/api/v1/jobs/${long.jobId}/cancel`);
    const stopped = await stack.admin.waitRun(running?.runId ?? '', (r) => r.complete);
    expect(stopped.state).toBe('cancelled');
    const job = await stack.admin.waitJob(long.jobId, (j) => j.finishedAt !== null);
    expect(job.state).toBe('cancelled');
    // The run that never reached the agent never ran there.
    const out = await stack.admin.request('GET', `/api/v1/runs/${queued?.runId ?? ''}/output/raw`);
    expect(await out.text()).toBe('');
  });

  it('runs no more nodes at once than the concurrency allows', async () => {
    await using stack = await startMaster({ db: dbKind, broker: brokerKind });
    await Promise.all(['c-1', 'c-2', 'c-3'].map((n) => stack.startAgent(n, { tags: { fleet: 'c' } })));
    const job = await stack.admin.createJob({
      target: { tags: { fleet: 'c' } },
      spec: { command: 'sleep 0.2; echo done', timeoutMs: 30_000 },
      concurrency: { count: 1 },
    });
    const done = await stack.admin.waitJob(job.jobId, (j) => j.finishedAt !== null);
    expect(done.counts.succeeded).toBe(3);
    const rows = await stack.master.store.db
      .selectFrom('runs')
      .select(['sent_at', 'ended_at'])
      .where('job_id', '=', job.jobId)
      .orderBy('sent_at')
      .execute();
    for (let i = 1; i < rows.length; i += 1) {
      expect(rows[i]?.sent_at ?? 0).toBeGreaterThanOrEqual(rows[i - 1]?.ended_at ?? Infinity);
    }
  });

  it('stops the rollout once the failure threshold is reached', async () => {
    await using stack = await startMaster({ db: dbKind, broker: brokerKind });
    await Promise.all(['n-1', 'n-2', 'n-3'].map((n) => stack.startAgent(n, { tags: { fleet: 'a' } })));
    const job = await stack.admin.createJob({
      target: { tags: { fleet: 'a' } },
      spec: { command: 'echo failing; exit 3', timeoutMs: 30_000 },
      concurrency: { count: 1 },
      maxFailures: { count: 1 },
    });
    const done = await stack.admin.waitJob(job.jobId, (j) => j.finishedAt !== null);
    expect(done.state).toBe('stopped');
    expect(done.counts.failed).toBe(1);
    expect(done.counts.cancelled).toBe(2);
    const runs = await stack.admin.runs(job.jobId);
    const failed = runs.find((r) => r.state === 'failed');
    expect(failed?.exitCode).toBe(3);
    for (const run of runs.filter((r) => r.state === 'cancelled')) {
      expect(run.reason).toMatch(/maxFailures/);
      expect(run.chunkCount).toBe(0);
    }
  });
});
