import { describe, expect, it } from 'vitest';
import { protocolNode } from './support/protocol-node.ts';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

describe('sweeper', () => {
  it('gives up a run whose node never reports an exit, and an unconfirmed cancel, each with a reason', async () => {
    await using stack = await startMaster({ deps: { lostRunGraceMs: 60_000, cancelGraceMs: 30_000 } });
    // A node that accepts and starts what it is sent and then goes silent: a crashed host.
    const node = await protocolNode(stack, 'quiet-1', (command, self) => {
      if (command.kind !== 'run') return;
      void self
        .send({ kind: 'accepted', runId: command.runId })
        .then(() => self.send({ kind: 'started', runId: command.runId, startedAt: Date.now(), pid: 4242 }));
    });
    const lost = await stack.admin.createJob({
      target: { nodeIds: ['quiet-1'] },
      spec: { command: 'sleep 1', timeoutMs: 10_000 },
    });
    const [lostRun] = await stack.admin.runs(lost.jobId);
    await stack.admin.waitRun(lostRun?.runId ?? '', (r) => r.state === 'running');
    const cancelled = await stack.admin.createJob({
      target: { nodeIds: ['quiet-1'] },
      spec: { command: 'sleep 1', timeoutMs: 600_000 },
    });
    const [cancelRun] = await stack.admin.runs(cancelled.jobId);
    await stack.admin.waitRun(cancelRun?.runId ?? '', (r) => r.state === 'running');
    await stack.admin.request('POST', `/api/v1/runs/${cancelRun?.runId ?? ''}/cancel`);
    await waitFor(
      'the cancel delivered',
      () => node.commands.some((c) => c.kind === 'cancel' && c.runId === cancelRun?.runId),
      { timeoutMs: 10_000 },
    );

    await stack.master.sweep();
    expect((await stack.admin.runs(lost.jobId))[0]?.state).toBe('running');
    // Past timeout + kill grace + the lost-run grace, and past the cancel grace.
    stack.clock.offsetMs += 10_000 + 5_000 + 60_000 + 1_000;
    await stack.master.sweep();
    const [gaveUp] = await stack.admin.runs(lost.jobId);
    expect(gaveUp?.state).toBe('interrupted');
    expect(gaveUp?.reason).toMatch(/never reported/);
    const [cancelledRun] = await stack.admin.runs(cancelled.jobId);
    expect(cancelledRun?.state).toBe('cancelled');
    expect(cancelledRun?.reason).toMatch(/did not confirm/);
    const job = await stack.admin.waitJob(lost.jobId, (j) => j.finishedAt !== null);
    expect(job.state).toBe('finished');
    node.client.end(true);
  });
});
