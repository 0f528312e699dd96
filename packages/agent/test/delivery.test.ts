import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { startTestAgent, testConfig } from './agent-env.ts';
import { newNodeKey, TestMaster, until } from './test-master.ts';

const LINES = 100_000;
/** Numbered lines in bursts with pauses, so the broker restarts land while the script prints. */
const SCRIPT = `
import os, sys, time
with open(os.environ['SPAWN_LOG'], 'a') as log:
    log.write('spawn\\n')
out = sys.stdout
for burst in range(20):
    out.write(''.join('line %06d\\n' % i for i in range(burst * 5000 + 1, burst * 5000 + 5001)))
    out.flush()
    time.sleep(0.15)
`;
const expected = Array.from({ length: LINES }, (_, i) => `line ${String(i + 1).padStart(6, '0')}\n`).join('');

describe('delivery through broker restarts', () => {
  it('delivers 100,000 lines byte for byte, without gaps or duplicates, from one spawn, while the broker is killed 3 times', async () => {
    await using dir = await tempDir();
    await using broker = await startMosquitto();
    const key = newNodeKey();
    const nodeId = 'node-delivery';
    const master = await TestMaster.start(broker.url, nodeId, key);
    await using agent = await startTestAgent(testConfig(broker.url, join(dir.path, 'state'), key, nodeId));
    await until(() => agent.stats().connected, 'the agent to connect');

    const spawnLog = join(dir.path, 'spawns');
    const command = master.runCommand({
      script: { interpreter: 'python3', body: SCRIPT },
      env: { SPAWN_LOG: spawnLog },
      timeoutMs: 120_000,
    });
    await master.send(command);
    const received = (): number => master.output(command.runId).bytes.byteLength;
    let killsWhileRunning = 0;
    for (const fraction of [0.15, 0.4, 0.65]) {
      await until(
        () => received() >= expected.length * fraction || master.complete(command.runId),
        `${fraction * 100}% of the output`,
        60_000,
      );
      if (master.run(command.runId).exited === undefined) killsWhileRunning += 1;
      await broker.kill();
      // Back only once the agent has lost its connection, so that each kill is a reconnect.
      await until(() => !agent.stats().connected, 'the agent to notice the broker is gone', 10_000);
      await broker.start();
      // And the next kill only once it is back: a kill while it still reconnects is no new connection.
      await until(() => agent.stats().connected, 'the agent to reconnect', 30_000);
    }
    await until(() => master.complete(command.runId), 'the whole run to be acknowledged', 90_000);

    const run = master.run(command.runId);
    const { bytes, contiguous } = master.output(command.runId);
    expect(contiguous).toBe(true);
    expect(run.chunks.size).toBe(run.exited?.seq);
    expect(bytes.toString('utf8') === expected).toBe(true);
    expect(bytes.byteLength).toBe(expected.length);
    expect(run.exited).toMatchObject({
      outcome: 'succeeded',
      exitCode: 0,
      outputTruncated: false,
      outputBytes: expected.length,
    });
    expect(readFileSync(spawnLog, 'utf8')).toBe('spawn\n');
    expect(agent.stats().spawns).toBe(1);
    expect(killsWhileRunning).toBeGreaterThanOrEqual(1);
    expect(agent.stats().connectionSeq).toBeGreaterThanOrEqual(4);
    await until(() => agent.stats().spoolBytes === 0, 'the spool to empty after the final ack', 10_000);
    await master.close();
  }, 180_000);
});
