import { Writable } from 'node:stream';
import {
  apiErrorSchema,
  auditPageSchema,
  jobDtoSchema,
  jobHistoryPageSchema,
  limits,
  type RunCommand,
} from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { protocolNode } from './support/protocol-node.ts';
import { type DbKind, type InProcessMaster, startMaster, waitFor } from '@edgestelle/fleet-fixture';

/**
 * Secret variables (`JobCreate.secretEnv`): the value reaches the node's process and nothing
 * else — every API answer, live hub frame, audit event, log line and the stored job row show
 * the name with `***`, to an admin too.
 */

const SECRET = 'hunter2-Secret-Value-7f3a9c';

/** Every column of the job's row, as text or raw bytes: what a stolen database shows. */
async function rawJobRow(stack: InProcessMaster, jobId: string): Promise<Buffer> {
  const row = await stack.master.store.db
    .selectFrom('jobs')
    .selectAll()
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  return Buffer.concat(
    Object.values(row).map((value) =>
      value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(String(value), 'utf8'),
    ),
  );
}

describe.each<DbKind>(['sqlite', 'postgres'])('secret variables on %s', (dbKind) => {
  it('delivers the value to the node and shows *** everywhere else: API, live hub, audit, logs, the stored row', async () => {
    const logLines: string[] = [];
    const logDestination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    await using stack = await startMaster({
      db: dbKind,
      broker: 'embedded',
      deps: { logger: undefined, logDestination },
      config: { logLevel: 'trace' },
    });
    const agent = await stack.startAgent('vault-1');
    const live = await stack.admin.live();
    const frames: string[] = [];
    live.socket.on('message', (data: Buffer) => frames.push(data.toString('utf8')));

    const created = await stack.admin.request('POST', '/api/v1/jobs', {
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo "$DB_PASSWORD"; echo "$MODE"', env: { MODE: 'plain-visible' }, timeoutMs: 30_000 },
      secretEnv: { DB_PASSWORD: SECRET },
    });
    const createdText = await created.text();
    expect(created.status, createdText).toBe(201);
    const job = jobDtoSchema.parse(JSON.parse(createdText));
    expect(job.secretEnv).toEqual({ DB_PASSWORD: '***' });
    expect(job.spec.env).toEqual({ MODE: 'plain-visible' });
    live.send({ type: 'subscribe', topic: 'job', jobId: job.jobId });

    const [run] = await stack.admin.runs(job.jobId);
    if (run === undefined) throw new Error('no run');
    const done = await stack.admin.waitRun(run.runId, (r) => r.complete);
    expect(done.state).toBe('succeeded');
    // Delivered: the node's process had the value (output is the script's own business).
    const output = await stack.admin.request('GET', `/api/v1/runs/${done.runId}/output/raw`);
    expect(await output.text()).toBe(`${SECRET}\nplain-visible\n`);
    await stack.admin.waitJob(job.jobId, (j) => j.state === 'finished');
    await waitFor(
      'the finished job on the live hub',
      () => frames.some((frame) => frame.includes('"type":"job"') && frame.includes('"state":"finished"')),
      { timeoutMs: 20_000 },
    );

    const bodies = [createdText];
    for (const path of [
      `/api/v1/jobs/${job.jobId}`,
      '/api/v1/jobs',
      `/api/v1/jobs?nodeId=${agent.nodeId}`,
      `/api/v1/jobs/${job.jobId}/runs`,
      `/api/v1/runs/${done.runId}`,
      `/api/v1/runs?jobId=${job.jobId}`,
      '/api/v1/audit?action=job.create',
      '/api/v1/search?q=plain-visible',
    ]) {
      const response = await stack.admin.request('GET', path);
      const text = await response.text();
      expect(response.status, `${path}: ${text}`).toBe(200);
      bodies.push(text);
    }
    expect(bodies.filter((text) => text.includes(SECRET))).toEqual([]);
    const history = jobHistoryPageSchema.parse(JSON.parse(bodies[2] ?? ''));
    expect(history.items.find((item) => item.jobId === job.jobId)?.secretEnv).toEqual({ DB_PASSWORD: '***' });
    const audit = auditPageSchema.parse(JSON.parse(bodies[7] ?? ''));
    expect(audit.items.find((event) => event.target === `job:${job.jobId}`)?.details.secretEnv).toBe('DB_PASSWORD=***');

    // The job subscription's frames (job and run states, no output) name the variable only.
    expect(frames.some((frame) => frame.includes('"secretEnv":{"DB_PASSWORD":"***"}'))).toBe(true);
    expect(frames.filter((frame) => frame.includes(SECRET))).toEqual([]);
    expect(logLines.some((line) => line.includes('job created'))).toBe(true);
    expect(logLines.filter((line) => line.includes(SECRET))).toEqual([]);

    // At rest: sealed in the job's row, and in no other column of it or of the audit table.
    const row = await rawJobRow(stack, job.jobId);
    expect(row.includes(Buffer.from(SECRET))).toBe(false);
    expect(row.includes(Buffer.from('DB_PASSWORD'))).toBe(true);
    const events = await stack.master.store.db.selectFrom('audit_events').selectAll().execute();
    expect(events.filter((event) => JSON.stringify(event).includes(SECRET))).toEqual([]);
    await live.close();
  });
});

describe('secret variables', () => {
  it('reach the node only inside its sealed run command, first delivery and re-send alike', async () => {
    await using stack = await startMaster();
    const payloads: Buffer[] = [];
    const node = await protocolNode(stack, 'pn-1');
    node.client.on('message', (_topic, payload) => payloads.push(payload));
    const job = await stack.admin.createJob({
      target: { nodeIds: ['pn-1'] },
      spec: { command: 'true', env: { PLAIN: '1' }, timeoutMs: 30_000 },
      secretEnv: { DB_PASSWORD: SECRET },
    });
    const runCommands = (): RunCommand[] =>
      node.commands.flatMap((command) => (command.kind === 'run' ? [command] : []));
    await waitFor('the run command', () => runCommands().length === 1, { timeoutMs: 10_000 });
    // The node never accepted it: the run stays `sent` and is offered again when it comes online.
    await stack.master.dispatcher.onNodeOnline('pn-1');
    await waitFor('the re-sent run command', () => runCommands().length === 2, { timeoutMs: 10_000 });
    for (const command of runCommands()) {
      expect(command.jobId).toBe(job.jobId);
      expect(command.spec.env).toEqual({ PLAIN: '1', DB_PASSWORD: SECRET });
    }
    expect(payloads.length).toBeGreaterThanOrEqual(2);
    expect(payloads.filter((payload) => payload.includes(Buffer.from(SECRET)))).toEqual([]);
    await node.client.endAsync();
  });

  it('refuses with 400, storing nothing, a name both plain and secret, too many variables, or bad values', async () => {
    await using stack = await startMaster();
    await protocolNode(stack, 'pn-2');
    await stack.admin.api('PUT', '/api/v1/scripts/hello', z.unknown(), {
      interpreter: 'sh',
      body: 'echo "hello $PARAM_WHO"',
      parameters: [{ name: 'who', type: 'string', required: true }],
    });
    const target = { nodeIds: ['pn-2'] };
    const spec = { command: 'true', timeoutMs: 30_000 };
    const many = (n: number, prefix: string) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, 'v']));
    const jobsBefore = await stack.master.store.db.selectFrom('jobs').select('job_id').execute();
    const refusals: Array<[what: string, body: unknown, message: RegExp]> = [
      [
        'a name in env and secretEnv',
        { target, spec: { ...spec, env: { DB_PASSWORD: 'x' } }, secretEnv: { DB_PASSWORD: SECRET } },
        /DB_PASSWORD is both a plain and a secret variable/,
      ],
      [
        "a library script's parameter",
        { target, script: { name: 'hello' }, params: { who: 'x' }, secretEnv: { PARAM_WHO: SECRET } },
        /PARAM_WHO is both a plain and a secret variable/,
      ],
      [
        'more variables than a run takes, counted together',
        { target, spec: { ...spec, env: many(limits.envMaxCount - 10, 'P') }, secretEnv: many(11, 'S') },
        /129 variables with the secret ones; a run takes at most 128/,
      ],
      [
        'more secret variables than a run takes',
        { target, spec, secretEnv: many(limits.envMaxCount + 1, 'S') },
        /secretEnv: at most 128 variables/,
      ],
      [
        'a value over the bound',
        { target, spec, secretEnv: { DB_PASSWORD: 'x'.repeat(limits.envValueMaxChars + 1) } },
        /secretEnv\.DB_PASSWORD/,
      ],
      ['a NUL in a value', { target, spec, secretEnv: { DB_PASSWORD: `${SECRET}\0` } }, /must not contain NUL/],
      ['a bad name', { target, spec, secretEnv: { 'DB-PASSWORD': SECRET } }, /secretEnv\.DB-PASSWORD: Invalid key/],
    ];
    for (const [what, body, message] of refusals) {
      const response = await stack.admin.request('POST', '/api/v1/jobs', body);
      const text = await response.text();
      expect(response.status, what).toBe(400);
      const error = apiErrorSchema.parse(JSON.parse(text));
      expect(error.message, what).toMatch(message);
      expect(text, what).not.toContain(SECRET);
    }
    const jobsAfter = await stack.master.store.db.selectFrom('jobs').select('job_id').execute();
    expect(jobsAfter).toEqual(jobsBefore);
    // The same names apart, and exactly as many as the limit, are fine.
    const fits = await stack.admin.createJob({
      target,
      spec: { ...spec, env: many(limits.envMaxCount - 10, 'P') },
      secretEnv: many(10, 'S'),
    });
    expect(Object.keys(fits.secretEnv)).toHaveLength(10);
    const withScript = await stack.admin.createJob({
      target,
      script: { name: 'hello' },
      params: { who: 'lib' },
      secretEnv: { DB_PASSWORD: SECRET },
    });
    expect(withScript.secretEnv).toEqual({ DB_PASSWORD: '***' });
    expect(withScript.spec.env).toEqual({ PARAM_WHO: 'lib' });
  });
});
