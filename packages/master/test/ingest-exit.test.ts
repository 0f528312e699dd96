import { describe, expect, it } from 'vitest';
import { protocolNode } from './support/protocol-node.ts';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

describe('ingest of exit reports', () => {
  it('keeps the first exit a node reports and still acknowledges a second one', async () => {
    await using stack = await startMaster();
    const node = await protocolNode(stack, 'twice-1');
    const job = await stack.admin.createJob({
      target: { nodeIds: ['twice-1'] },
      spec: { command: 'true', timeoutMs: 10_000 },
    });
    const [run] = await stack.admin.runs(job.jobId);
    const runId = run?.runId ?? '';
    await waitFor('the run sent', () => node.commands.some((c) => c.kind === 'run' && c.runId === runId), {
      timeoutMs: 10_000,
    });
    const startedAt = Date.now();
    const exit = {
      kind: 'exited',
      runId,
      seq: 0,
      startedAt,
      peakRssBytes: null,
      outputBytes: 0,
      outputTruncated: false,
    } as const;
    await node.send({ kind: 'accepted', runId });
    await node.send({ ...exit, outcome: 'succeeded', exitCode: 0, signal: null, endedAt: startedAt + 5 });
    const first = await stack.admin.waitRun(runId, (r) => r.state === 'succeeded');
    // What an agent that lost the last lines of its ledger in a power cut says after it restarts.
    await node.send({
      ...exit,
      outcome: 'interrupted',
      exitCode: null,
      signal: null,
      endedAt: startedAt + 60_000,
      reason: 'the agent stopped while the run was running',
    });
    const acked = (): number =>
      node.commands.filter((c) => c.kind === 'ack' && c.runs.some((r) => r.runId === runId && r.seq === 0)).length;
    await waitFor('both exit reports acknowledged', () => acked() >= 2, { timeoutMs: 10_000 });
    expect(await stack.admin.waitRun(runId, () => true)).toEqual(first);
    node.client.end(true);
  });
});
