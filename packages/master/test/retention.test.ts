import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Topics,
  commandSchema,
  jobDtoSchema,
  retentionResultSchema,
  searchPageSchema,
  type Command,
} from '@edgestelle/protocol';
import { deriveNodeKey, openMessage, sealMessage } from '@edgestelle/protocol/envelope';
import { sql } from 'kysely';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Retention } from '../src/retention/retention.ts';
import { type DbKind, type InProcessMaster, startMaster, waitFor } from '@edgestelle/fleet-fixture';

const DAY_MS = 86_400_000;

describe.each<DbKind>(['sqlite', 'postgres'])('retention (%s)', (db) => {
  it('deletes old finished jobs and then the oldest until under the size cap, nothing else; acks output of a deleted run', async () => {
    await using stack = await startMaster({ db, broker: 'embedded', config: { retentionDays: '5' } });
    const agent = await stack.startAgent('keeper');
    const target = { nodeIds: [agent.nodeId] };
    const run = async (word: string, command = `echo ${word}; echo ${word}-second`) => {
      const job = await stack.admin.createJob({ target, spec: { command, timeoutMs: 60_000 } });
      return job;
    };
    const finish = async (jobId: string) =>
      stack.admin.waitJob(jobId, (j) => j.state === 'finished' && j.counts.succeeded === 1);

    // Agents hold commands to the wall clock, so "old" jobs run now and the master's clock then moves on.
    const old = await run('oldword');
    await finish(old.jobId);
    const [oldRun] = await stack.admin.runs(old.jobId);
    const oldStillRunning = await run('', 'echo slowword; sleep 30');
    const [slowRun] = await stack.admin.runs(oldStillRunning.jobId);
    await stack.admin.waitRun(slowRun?.runId ?? '', (r) => r.state === 'running' && r.chunkCount === 1);
    // Paused is not finished: retention keeps a paused job as it keeps a running one.
    await stack.admin.api('POST', `/api/v1/jobs/${oldStillRunning.jobId}/pause`, jobDtoSchema);
    stack.clock.offsetMs = 10 * DAY_MS;
    const middle = await run('middleword');
    await finish(middle.jobId);
    const newest = await run('newword');
    await finish(newest.jobId);
    await stack.master.indexer.drain();
    const hits = async (q: string) =>
      (await stack.admin.api('GET', `/api/v1/search?q=${q}`, searchPageSchema)).items.map((h) => h.line);
    expect(await hits('oldword')).toEqual(['oldword', 'oldword-second']);
    const auditBefore = await count(stack, 'audit_events');
    const usersBefore = await count(stack, 'users');

    // By age: only the old finished job goes; the old job still running stays.
    const byAge = await stack.admin.api('POST', '/api/v1/admin/retention/run', retentionResultSchema);
    expect(byAge).toMatchObject({ jobsDeleted: 1, runsDeleted: 1 });
    expect(byAge.outputBytesDeleted).toBe(oldRun?.outputBytes);
    expect((await stack.admin.request('GET', `/api/v1/jobs/${old.jobId}`)).status).toBe(404);
    expect((await stack.admin.request('GET', `/api/v1/runs/${oldRun?.runId ?? ''}`)).status).toBe(404);
    for (const job of [oldStillRunning, middle, newest]) {
      expect((await stack.admin.request('GET', `/api/v1/jobs/${job.jobId}`)).status).toBe(200);
    }
    expect(await hits('oldword')).toEqual([]);
    expect(await hits('middleword')).toHaveLength(2);
    if (db === 'sqlite') {
      // The FTS index lost the rows too (its delete trigger fires on the cascade): FTS5's own
      // integrity check (rank 1: against the content table) throws on a difference.
      await sql`INSERT INTO output_lines_fts(output_lines_fts, rank) VALUES ('integrity-check', 1)`.execute(
        stack.master.store.db,
      );
    }
    expect(await count(stack, 'run_chunks', oldRun?.runId)).toBe(0);
    // Audit events stay, with one more for the pass; users, scripts and nodes are untouched.
    expect(await count(stack, 'audit_events')).toBe(auditBefore + 1);
    expect(await count(stack, 'users')).toBe(usersBefore);
    expect((await stack.admin.request('GET', `/api/v1/nodes/${agent.nodeId}`)).status).toBe(200);

    // By size: the oldest finished jobs go until the stored output fits; running jobs stay.
    const [newestRun] = await stack.admin.runs(newest.jobId);
    const [runningRun] = await stack.admin.runs(oldStillRunning.jobId);
    const bySize = new Retention({
      store: stack.master.store,
      audit: stack.master.audit,
      clock: stack.clock,
      logger: pino({ level: 'silent' }),
      maxAgeDays: null,
      maxOutputBytes: (newestRun?.outputBytes ?? 0) + (runningRun?.outputBytes ?? 0),
      schedule: '0 3 * * *',
      sqlitePath: stack.master.store.sqlitePath,
    });
    expect(await bySize.run({ name: 'admin', ip: null }, true)).toMatchObject({ jobsDeleted: 1 });
    expect((await stack.admin.request('GET', `/api/v1/jobs/${middle.jobId}`)).status).toBe(404);
    expect((await stack.admin.request('GET', `/api/v1/jobs/${newest.jobId}`)).status).toBe(200);
    expect((await stack.admin.request('GET', `/api/v1/jobs/${oldStillRunning.jobId}`)).status).toBe(200);
    await bySize.close();

    // An agent re-sending a chunk of a deleted run (its ack was lost) still gets an ack, so it
    // drops the chunk instead of re-sending it forever.
    const topics = new Topics();
    const secret = await readFile(join(stack.dir, 'master', 'master.key'));
    const key = { keyId: 0, key: deriveNodeKey(secret, agent.nodeId, 0) };
    const deletedRunId = oldRun?.runId ?? '';
    const client = await mqtt.connectAsync(stack.master.brokerUrl, {
      protocolVersion: 4,
      username: 'edgestelle:master',
      password: (await readFile(join(stack.dir, 'master', 'mqtt-master-password'), 'utf8')).trim(),
      clientId: 'retention-test',
    });
    try {
      const acks: Command[] = [];
      client.on('message', (topic, payload) => {
        const opened = openMessage(topics, topic, payload, { keyFor: () => key.key });
        if (opened.channel === 'cmd') acks.push(commandSchema.parse(opened.message));
      });
      await client.subscribeAsync(topics.node(agent.nodeId, 'cmd'), { qos: 1 });
      const evt = topics.node(agent.nodeId, 'evt');
      await client.publishAsync(
        evt,
        sealMessage(
          evt,
          { kind: 'output', runId: deletedRunId, seq: 0, stream: 'stdout', data: Buffer.from('late\n') },
          key,
        ),
        { qos: 1 },
      );
      await waitFor(
        'an ack for the deleted run',
        () => acks.some((c) => c.kind === 'ack' && c.runs.some((r) => r.runId === deletedRunId && r.seq === 0)),
        { timeoutMs: 15_000 },
      );
      expect(stack.master.ingest.rejects.get('run_deleted')).toBe(1);
    } finally {
      await client.endAsync();
    }
  });
});

async function count(
  stack: InProcessMaster,
  table: 'audit_events' | 'users' | 'run_chunks',
  runId?: string,
): Promise<number> {
  const where = runId === undefined ? sql`` : sql` WHERE run_id = ${runId}`;
  const result = await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(table)}${where}`.execute(
    stack.master.store.db,
  );
  return Number(result.rows[0]?.n ?? 0);
}
