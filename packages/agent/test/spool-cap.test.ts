import { join } from 'node:path';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { startTestAgent, testConfig } from './agent-env.ts';
import { newNodeKey, TestMaster, until } from './test-master.ts';

const MiB = 1024 * 1024;
const OUTPUT_BYTES = 192 * MiB;

describe('spool cap', () => {
  it('cuts a run past the cap with a marker, flags it, and keeps memory bounded', async () => {
    await using dir = await tempDir();
    await using broker = await startMosquitto();
    const key = newNodeKey();
    const nodeId = 'node-spool-cap';
    const master = await TestMaster.start(broker.url, nodeId, key);
    // Nothing is acknowledged while the run prints, so everything it prints stays spooled.
    master.acking = false;
    await using agent = await startTestAgent(
      testConfig(broker.url, join(dir.path, 'state'), key, nodeId, { spoolMaxBytes: String(2 * MiB) }),
    );
    await until(() => agent.stats().connected, 'the agent to connect');
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);

    const command = master.runCommand({ command: `head -c ${OUTPUT_BYTES} /dev/zero | tr '\\0' x`, timeoutMs: 60_000 });
    await master.send(command);
    await until(() => master.run(command.runId).exited !== undefined, 'the run to exit', 60_000);
    clearInterval(sampler);
    expect(agent.stats().spoolBytes).toBeLessThanOrEqual(2 * MiB + 4096);
    master.acking = true;
    master.flushAcks();
    await until(() => master.complete(command.runId), 'the run to be acknowledged');

    const run = master.run(command.runId);
    expect(run.exited).toMatchObject({ outcome: 'succeeded', outputTruncated: true, outputBytes: OUTPUT_BYTES });
    const last = run.chunks.get((run.exited?.seq ?? 0) - 1);
    expect(last?.stream).toBe('system');
    expect(last?.data.toString()).toMatch(/output cut here: the agent's spool is full/);
    const stdout = master.output(command.runId, 'stdout').bytes;
    expect(stdout.byteLength).toBeLessThan(2 * MiB);
    expect(stdout.every((byte) => byte === 0x78)).toBe(true);
    // 192 MiB went through the agent; the process grew by a fraction of that (GC lag, not
    // retention: the growth measured the same, ~45 MiB, with 48 MiB of output).
    expect(rssPeak - rssBefore).toBeLessThan(OUTPUT_BYTES / 2);
    await until(() => agent.stats().spoolBytes === 0, 'the spool to empty');
    await master.close();
  }, 120_000);
});
