import { join } from 'node:path';
import { newId } from '@edgestelle/protocol';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { Ledger } from '../src/ledger.ts';
import { Spool } from '../src/spool.ts';
import { ensureStateDir, stateFiles } from '../src/state-dir.ts';
import { startTestAgent, testConfig } from './agent-env.ts';
import { newNodeKey, TestMaster, until } from './test-master.ts';

/**
 * The spool's `exited` is synced on the thread pool, so a power cut can keep the ledger's
 * `exited` line and lose the spool's record (the state dir below is what such a cut leaves).
 * Without the record the run's output went out and its end never did: the run stayed
 * `running` on the master for good.
 */
describe('a power cut between the ledger and the spool', () => {
  it("writes the lost exit again from the ledger's line, with the chunk count the spool kept", async () => {
    await using dir = await tempDir();
    await using broker = await startMosquitto();
    const key = newNodeKey();
    const nodeId = 'node-power-cut';
    const stateDir = join(dir.path, 'state');
    ensureStateDir(stateDir);
    const runId = newId();
    const ledger = new Ledger({ path: join(stateDir, stateFiles.ledger), now: Date.now });
    ledger.put({ runId, jobId: newId(), deadlineAt: Date.now() + 60_000, receivedAt: Date.now(), state: 'accepted' });
    const spool = new Spool({ dir: join(stateDir, stateFiles.spool), maxBytes: 1024 * 1024 });
    const spoolRun = spool.createRun(runId);
    spool.appendChunk(spoolRun, 'stdout', Buffer.from('one\n'));
    spool.appendChunk(spoolRun, 'stdout', Buffer.from('two\n'));
    const startedAt = Date.now() - 2000;
    // The ledger counted a third chunk the cut lost too.
    ledger.update(runId, {
      state: 'exited',
      exited: {
        kind: 'exited',
        runId,
        seq: 3,
        outcome: 'failed',
        exitCode: 3,
        signal: null,
        startedAt,
        endedAt: startedAt + 1000,
        peakRssBytes: null,
        outputBytes: 12,
        outputTruncated: false,
      },
    });
    await ledger.durable();
    ledger.close();
    spool.close();

    const master = await TestMaster.start(broker.url, nodeId, key);
    await using agent = await startTestAgent(testConfig(broker.url, stateDir, key, nodeId));
    await until(() => agent.stats().connected, 'the agent to connect');
    await until(() => master.complete(runId), 'the run delivered whole');
    expect(master.output(runId).bytes.toString()).toBe('one\ntwo\n');
    expect(master.run(runId).exited).toMatchObject({ seq: 2, outcome: 'failed', exitCode: 3, startedAt });
    await master.close();
  });
});
