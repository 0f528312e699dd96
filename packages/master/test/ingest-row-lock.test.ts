import type { AgentEvent } from '@edgestelle/protocol';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Master } from '../src/index.ts';
import { protocolNode } from './support/protocol-node.ts';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

/**
 * Two masters on one PostgreSQL: a shared subscription hands one master a run's exit and the
 * other its last chunks. Each batch reads the run's row, changes it and writes it back; the
 * second write must build on the first, not undo it.
 */
describe('ingest on two masters sharing one PostgreSQL', () => {
  it('keeps both batches of one run when they are stored at the same time', async () => {
    await using a = await startMaster({ db: 'postgres', broker: 'mosquitto', config: { mqttShared: 'true' } });
    await using shared = await startMaster({ sharedWith: a, config: { mqttShared: 'true' } });
    const b = shared.master;
    const node = await protocolNode(a, 'race-1');
    const job = await a.admin.createJob({
      target: { nodeIds: ['race-1'] },
      spec: { command: 'true', timeoutMs: 30_000 },
    });
    const [run] = await a.admin.runs(job.jobId);
    const runId = run?.runId ?? '';
    await waitFor('the run sent', () => node.commands.some((c) => c.kind === 'run' && c.runId === runId), {
      timeoutMs: 10_000,
    });
    const chunk = (seq: number): AgentEvent => ({
      kind: 'output',
      runId,
      seq,
      stream: 'stdout',
      data: Buffer.from(`line ${seq}\n`),
    });
    const startedAt = Date.now();
    const exit: AgentEvent = {
      kind: 'exited',
      runId,
      seq: 3,
      outcome: 'succeeded',
      exitCode: 0,
      signal: null,
      startedAt,
      endedAt: startedAt + 5,
      peakRssBytes: null,
      outputBytes: 21,
      outputTruncated: false,
    };

    // Another transaction holds the run's row, so both batches are in flight at once.
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = (): void => undefined;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const holder = a.master.store.db.transaction().execute(async (trx) => {
      await sql`SELECT 1 FROM runs WHERE run_id = ${runId} FOR UPDATE`.execute(trx);
      held();
      await released;
    });
    await holding;
    const storing = [
      feed(a.master, [node.seal(chunk(0)), node.seal(exit)]),
      feed(b, [node.seal(chunk(1)), node.seal(chunk(2))]),
    ];
    await waitFor(
      'both batches waiting on the run',
      async () => {
        const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(a.master.store.db);
        return rows[0]?.n === 2;
      },
      { timeoutMs: 10_000 },
    );
    release();
    await holder;
    await Promise.all(storing);

    const stored = await a.admin.waitRun(runId, () => true);
    expect(stored).toMatchObject({ state: 'succeeded', exitCode: 0, chunkCount: 3, outputBytes: 21, complete: true });
    node.client.end(true);
  });
});

function feed(master: Master, messages: ReadonlyArray<{ topic: string; payload: Buffer }>): Promise<void> {
  for (const { topic, payload } of messages) void master.ingest.accept(topic, payload);
  return master.ingest.flush();
}
