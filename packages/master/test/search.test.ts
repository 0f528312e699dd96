import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiErrorSchema, outputPageSchema, searchPageSchema } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { type DbKind, startMaster, waitFor } from '@edgestelle/fleet-fixture';

const NEEDLE = 'kernel: EXT4-fs error (device sda7): checksum mismatch in block 881';
const LINES_PER_NODE = 33_333;
const NEEDLE_LINE = 20_000;

/** A script printing n numbered lines, one of them (at `at`) the needle, through awk (fast, no shell loop). */
function noise(node: string, n: number, at?: number): string {
  const needle = at === undefined ? '' : `if (i == ${at}) { print "${NEEDLE}"; continue } `;
  return `awk 'BEGIN { for (i = 1; i <= ${n}; i++) { ${needle}printf "%s service heartbeat %06d ok\\n", "${node}", i } }'`;
}

describe.each<DbKind>(['sqlite', 'postgres'])('log search (%s)', (db) => {
  it('finds the one line one of 3 nodes printed among 100,000 and points at its run and chunk', async () => {
    await using stack = await startMaster({ db, broker: 'embedded' });
    const nodes = await Promise.all(['edge-1', 'edge-2', 'edge-3'].map((name) => stack.startAgent(name)));
    const [one, two, three] = nodes.map((n) => n.nodeId);
    if (one === undefined || two === undefined || three === undefined) throw new Error('three agents');
    const quiet = await stack.admin.createJob({
      target: { nodeIds: [one, three] },
      spec: { command: noise('quiet', LINES_PER_NODE), timeoutMs: 120_000 },
    });
    const loud = await stack.admin.createJob({
      target: { nodeIds: [two] },
      spec: { command: noise('edge-2', LINES_PER_NODE + 1, NEEDLE_LINE), timeoutMs: 120_000 },
    });
    for (const job of [quiet, loud]) {
      await stack.admin.waitJob(
        job.jobId,
        (j) => j.state === 'finished' && j.counts.succeeded === j.nodeCount,
        120_000,
      );
      for (const run of await stack.admin.runs(job.jobId))
        await stack.admin.waitRun(run.runId, (r) => r.complete, 60_000);
    }
    await stack.master.indexer.drain();
    const indexed = await stack.master.store.db
      .selectFrom('output_lines')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(indexed.n)).toBe(3 * LINES_PER_NODE + 1);

    const [loudRun] = await stack.admin.runs(loud.jobId);
    const page = await stack.admin.api(
      'GET',
      `/api/v1/search?q=${encodeURIComponent('"checksum mismatch" sda7')}`,
      searchPageSchema,
    );
    expect(page.items).toHaveLength(1);
    const hit = page.items[0];
    expect(hit).toMatchObject({
      runId: loudRun?.runId,
      jobId: loud.jobId,
      nodeId: two,
      lineNo: NEEDLE_LINE,
      line: NEEDLE,
      stream: 'stdout',
      runState: 'succeeded',
      createdBy: 'admin',
    });
    expect(hit?.highlights.map((h) => NEEDLE.slice(h.start, h.end))).toEqual(['sda7', 'checksum mismatch']);
    // The seq points at the chunk the line starts in: reading from there shows the line.
    const output = await stack.admin.api(
      'GET',
      `/api/v1/runs/${hit?.runId ?? ''}/output?fromSeq=${hit?.seq ?? 0}&limit=2`,
      outputPageSchema,
    );
    const text = Buffer.concat(output.chunks.map((c) => Buffer.from(c.data, 'base64'))).toString('utf8');
    expect(text).toContain(NEEDLE);
    expect(Buffer.from(output.chunks[0]?.data ?? '', 'base64').toString('utf8')).toContain(NEEDLE.slice(0, 4));

    // Case does not matter; filters narrow; nothing matches on the other nodes.
    const upper = await stack.admin.api('GET', `/api/v1/search?q=CHECKSUM`, searchPageSchema);
    expect(upper.items.map((h) => h.lineNo)).toEqual([NEEDLE_LINE]);
    for (const nodeId of [one, three]) {
      expect(
        (await stack.admin.api('GET', `/api/v1/search?q=checksum&nodeId=${nodeId}`, searchPageSchema)).items,
      ).toEqual([]);
    }
    expect((await stack.admin.api('GET', `/api/v1/search?q=checksum&state=failed`, searchPageSchema)).items).toEqual(
      [],
    );
    expect((await stack.admin.api('GET', `/api/v1/search?q=checksum&user=nobody`, searchPageSchema)).items).toEqual([]);
    // LIKE wildcards in a term are plain characters: "e_h" is not "e h" ("service heartbeat").
    expect((await stack.admin.api('GET', `/api/v1/search?q=e_h&limit=1`, searchPageSchema)).items).toEqual([]);

    // A common word pages by cursor, newest run first and in line order, without repeats.
    const first = await stack.admin.api('GET', `/api/v1/search?q=heartbeat&nodeId=${one}&limit=100`, searchPageSchema);
    expect(first.items.map((h) => h.lineNo)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const second = await stack.admin.api(
      'GET',
      `/api/v1/search?q=heartbeat&nodeId=${one}&limit=100&cursor=${first.nextCursor ?? ''}`,
      searchPageSchema,
    );
    expect(second.items[0]?.lineNo).toBe(101);
    expect((await stack.admin.request('GET', '/api/v1/search?q=ok')).status).toBe(400);
    // 100,000 lines stored and indexed: 25-29 s on PostgreSQL on a 2-core machine under load.
  }, 90_000);

  it('finds a word after 4,000 characters of one line, and refuses a query with nothing to search', async () => {
    await using stack = await startMaster({ db, broker: 'embedded' });
    const { nodeId } = await stack.startAgent('edge-long');
    const job = await stack.admin.createJob({
      target: { nodeIds: [nodeId] },
      spec: {
        command: `head -c 4000 /dev/zero | tr '\\0' a; echo ' tail-word-91c end'; echo short line`,
        timeoutMs: 30_000,
      },
    });
    const [run] = await stack.admin.runs(job.jobId);
    await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete, 30_000);
    await stack.master.indexer.drain();
    const page = await stack.admin.api('GET', `/api/v1/search?q=tail-word-91c`, searchPageSchema);
    expect(page.items.map((h) => h.lineNo)).toEqual([1]);
    const [hit] = page.items;
    // A hit shows at most 2,000 characters of its line: the part around the first match.
    expect(hit?.line.length).toBeLessThanOrEqual(2000);
    expect(hit?.lineLength).toBe(4000 + ' tail-word-91c end'.length);
    expect((hit?.lineStart ?? 0) + (hit?.line.length ?? 0)).toBe(hit?.lineLength);
    expect(hit?.line.endsWith('a tail-word-91c end')).toBe(true);
    expect(hit?.highlights.map((h) => hit.line.slice(h.start, h.end))).toEqual(['tail-word-91c']);
    // The whole line is stored for the index.
    const stored = await stack.master.store.db
      .selectFrom('output_lines')
      .select('line')
      .where('run_id', '=', run?.runId ?? '')
      .orderBy('line_no')
      .execute();
    expect(stored.map((r) => r.line.length)).toEqual([4018, 'short line'.length]);

    // NUL, other control characters and spaces are nothing to search for: 400, naming q.
    for (const q of ['\0\0\0', '\0\0\0\0\0\0 tail', '"\0 \0 \x01\x7f"', 'tail\0word', 'end ab']) {
      const response = await stack.admin.request('GET', `/api/v1/search?q=${encodeURIComponent(q)}`);
      expect(response.status, JSON.stringify(q)).toBe(400);
      const error = apiErrorSchema.parse(await response.json());
      expect(error, JSON.stringify(q)).toMatchObject({ code: 'invalid_request', field: 'q' });
      expect(error.message, JSON.stringify(q)).toMatch(/^query parameter q: /);
    }
    const nul = apiErrorSchema.parse(await (await stack.admin.request('GET', '/api/v1/search?q=%00%00%00')).json());
    expect(nul.message).toBe(
      'query parameter q: "\\u0000\\u0000\\u0000" has no searchable character; each word needs 3 or more characters that are not spaces or control characters',
    );
  });

  it('indexes a last line without a newline when the run ends after its output was indexed', async () => {
    await using stack = await startMaster({ db, broker: 'embedded' });
    const { nodeId } = await stack.startAgent('edge-carry');
    // The output is stored and indexed (its line kept open) before the exit: the script ends
    // only once the test has seen that and created the file it waits for.
    const indexed = join(stack.dir, 'first-line-indexed');
    const job = await stack.admin.createJob({
      target: { nodeIds: [nodeId] },
      spec: {
        command: `printf "first line\\nno newline at the end"; while [ ! -e '${indexed}' ]; do sleep 0.05; done`,
        timeoutMs: 30_000,
      },
    });
    const [run] = await stack.admin.runs(job.jobId);
    const indexedLines = async (): Promise<string[]> =>
      (
        await stack.master.store.db
          .selectFrom('output_lines')
          .select('line')
          .where('run_id', '=', run?.runId ?? '')
          .orderBy('line_no')
          .execute()
      ).map((r) => r.line);
    await waitFor('the first line indexed', async () => (await indexedLines()).length >= 1, { timeoutMs: 10_000 });
    expect(await indexedLines()).toEqual(['first line']);
    await writeFile(indexed, '');
    await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete, 30_000);
    // No drain and no scan (that runs every minute): the run's end alone finishes the line.
    await waitFor('the last line indexed', async () => (await indexedLines()).length >= 2, { timeoutMs: 10_000 });
    expect(await indexedLines()).toEqual(['first line', 'no newline at the end']);
  });
});
