import { join } from 'node:path';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { startTestAgent, testConfig } from './agent-env.ts';
import { newNodeKey, TestMaster, until } from './test-master.ts';

/**
 * Regression (issue 10 fault suite): after a broker restart a chunk published before the
 * master resubscribed was lost, and the master then acknowledged the same seq for every later
 * chunk. The agent took those repeated acks for progress, so it re-sent the gap only after the
 * run ended — live output stalled for the rest of the run and the spool could not shrink.
 */
describe('regression: an ack that does not advance is not progress', () => {
  it('re-sends a lost chunk within the ack timeout while the run keeps printing', async () => {
    await using dir = await tempDir();
    await using broker = await startMosquitto();
    const key = newNodeKey();
    const nodeId = 'node-ack-gap';
    const master = await TestMaster.start(broker.url, nodeId, key);
    await using agent = await startTestAgent(testConfig(broker.url, join(dir.path, 'state'), key, nodeId));
    await until(() => agent.stats().connected, 'the agent to connect');
    const command = master.runCommand({
      command: 'i=1; while [ $i -le 400 ]; do echo "line $i"; sleep 0.05; i=$((i+1)); done',
      timeoutMs: 60_000,
    });
    await master.send(command);
    const run = master.run(command.runId);
    await until(() => run.acked >= 2, 'the first acks');
    // Chunks that arrive now are "lost": the master forgets what it has not acknowledged.
    master.acking = false;
    const gapFrom = run.acked + 1;
    await until(() => run.chunks.has(gapFrom + 1), 'two unacknowledged chunks');
    master.forgetUnacked();
    master.acking = true;
    // Later chunks arrive; the ack stays below the gap until the agent sends it again (1.5 s here).
    await until(() => run.acked > gapFrom + 1, 'the gap to be re-sent and acknowledged', 10_000);
    expect(run.exited).toBeUndefined();
    await until(() => master.complete(command.runId), 'the run to complete', 60_000);
    expect(master.output(command.runId).contiguous).toBe(true);
    await master.close();
  }, 90_000);
});
