import { join } from 'node:path';
import { freshPostgresDatabase, tempDir } from '@edgestelle/testkit';
import { sql, type Kysely, type Transaction } from 'kysely';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/db/connect.ts';
import { migrationProvider } from '../src/db/migrations.ts';
import type { Store } from '../src/db/store.ts';
import type { Database } from '../src/db/schema.ts';
import { insertRunningRun } from './support/rows.ts';
import { contiguousEnd } from '../src/runs/ingest.ts';
import { MasterEvents } from '../src/events.ts';
import { LineIndexer } from '../src/search/line-indexer.ts';

/** One contract, both databases: what the run path relies on from the store. */
async function withStore(
  kind: 'sqlite' | 'postgres',
  body: (store: Store, url: string) => Promise<void>,
): Promise<void> {
  if (kind === 'sqlite') {
    await using dir = await tempDir();
    const url = `sqlite:${join(dir.path, 'db', 'edgestelle.db')}`;
    const store = await openStore(url);
    try {
      await body(store, url);
    } finally {
      await store.close();
    }
  } else {
    await using db = await freshPostgresDatabase();
    const store = await openStore(db.url);
    try {
      await body(store, db.url);
    } finally {
      await store.close();
    }
  }
}

describe.each(['sqlite', 'postgres'] as const)('store on %s', (kind) => {
  it('migrates once and again without change', async () => {
    await withStore(kind, async (store, url) => {
      expect(await store.ping()).toBe(true);
      const again = await openStore(url);
      await again.close();
    });
  });

  it('stores chunks idempotently by (run, seq), returns times as numbers and finds the contiguous end', async () => {
    await withStore(kind, async (store) => {
      const nowMs = 1_790_000_000_123;
      await insertRunningRun(store, { jobId: 'job-1', runId: 'run-1', nodeId: 'edge-1' }, nowMs);
      const chunk = (seq: number) => ({
        run_id: 'run-1',
        seq,
        stream: 'stdout',
        data: Buffer.from(`chunk ${seq}\n`),
        created_at: nowMs,
      });
      const insert = (seqs: number[]) =>
        store.db
          .insertInto('run_chunks')
          .values(seqs.map(chunk))
          .onConflict((oc) => oc.columns(['run_id', 'seq']).doNothing())
          .returning('seq')
          .execute();
      expect((await insert([0, 1, 3])).map((r) => r.seq).sort()).toEqual([0, 1, 3]);
      expect((await insert([1, 2, 3])).map((r) => r.seq)).toEqual([2]);
      await store.db.transaction().execute(async (trx) => {
        expect(await contiguousEnd(trx, 'run-1', 0)).toBe(4);
        expect(await contiguousEnd(trx, 'run-1', 4)).toBe(4);
      });
      const rows = await store.db
        .selectFrom('run_chunks')
        .selectAll()
        .where('run_id', '=', 'run-1')
        .orderBy('seq')
        .execute();
      expect(rows.map((r) => Buffer.from(r.data).toString()).join('')).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\n');
      const run = await store.db.selectFrom('runs').selectAll().executeTakeFirstOrThrow();
      expect(run.created_at).toBe(nowMs);
      expect(typeof run.output_bytes).toBe('number');
    });
  });
  it('commits a deferred transaction, rolls one back that throws, and makes both durable on request', async () => {
    await withStore(kind, async (store) => {
      const user = (id: string) => ({
        user_id: id,
        username: id,
        password_hash: 'x',
        role: 'viewer',
        created_at: 1,
        disabled_at: null,
        last_login_at: null,
      });
      await store.deferredTransaction((trx) => trx.insertInto('users').values(user('u-kept')).execute());
      await expect(
        store.deferredTransaction(async (trx) => {
          await trx.insertInto('users').values(user('u-undone')).execute();
          throw new Error('changed its mind');
        }),
      ).rejects.toThrow('changed its mind');
      await store.durable();
      const names = await store.db.selectFrom('users').select('username').where('username', 'like', 'u-%').execute();
      expect(names.map((u) => u.username)).toEqual(['u-kept']);
    });
  });

  it('migration 0005 indexes again the runs whose lines an older master cut at 2,000 characters', async () => {
    await withStore(kind, async (store) => {
      const nowMs = 1_790_000_000_000;
      const long = `${'a'.repeat(4000)} tail-word`;
      // As the older indexer left them: the long run's first line cut, the short run's whole.
      for (const [runId, text, lines] of [
        ['run-long', `${long}\nnext\n`, [long.slice(0, 2000), 'next']],
        ['run-short', 'one\ntwo\n', ['one', 'two']],
      ] as const) {
        await insertRunningRun(store, { jobId: `job-${runId}`, runId, nodeId: 'edge-1' }, nowMs);
        await store.db
          .insertInto('run_chunks')
          .values({ run_id: runId, seq: 0, stream: 'stdout', data: Buffer.from(text), created_at: nowMs })
          .execute();
        await store.db
          .insertInto('output_lines')
          .values(
            lines.map((line, i) => ({
              run_id: runId,
              seq: 0,
              line_no: i + 1,
              stream: 'stdout',
              line,
              created_at: nowMs,
            })),
          )
          .execute();
        await store.db
          .updateTable('runs')
          .set({ next_seq: 1, index_seq: 1, index_line: lines.length })
          .where('run_id', '=', runId)
          .execute();
      }
      const shortIds = await lineIds(store, 'run-short');
      // Run 0005 again by itself, as on a database from before it: reopening with its record
      // deleted would refuse, since later migrations ran after it.
      const migrations = await migrationProvider(kind).getMigrations();
      await migrations['0005_search_whole_lines']?.up(store.db);

      expect(await lineIds(store, 'run-long')).toEqual([]);
      expect(await lineIds(store, 'run-short')).toEqual(shortIds);
      const indexer = new LineIndexer({
        store: store,
        events: new MasterEvents(),
        logger: pino({ level: 'silent' }),
        scanIntervalMs: 0,
      });
      await indexer.scan();
      await indexer.drain();
      indexer.close();
      const lines = await store.db
        .selectFrom('output_lines')
        .select('line')
        .where('run_id', '=', 'run-long')
        .orderBy('line_no')
        .execute();
      expect(lines.map((l) => l.line)).toEqual([long, 'next']);
      expect(await lineIds(store, 'run-short')).toEqual(shortIds);
    });
  });
});

async function lineIds(store: Store, runId: string): Promise<number[]> {
  const rows = await store.db.selectFrom('output_lines').select('line_id').where('run_id', '=', runId).execute();
  return rows.map((r) => Number(r.line_id)).sort((a, b) => a - b);
}

describe('store on sqlite: deferred commits', () => {
  it('relaxes synchronous for exactly the deferred transaction, even one that fails or overlaps another write', async () => {
    await withStore('sqlite', async (store) => {
      const synchronous = async (db: Kysely<Database> | Transaction<Database>): Promise<number> => {
        const { rows } = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db);
        return rows[0]?.synchronous ?? -1;
      };
      const FULL = 2;
      const NORMAL = 1;
      expect(await synchronous(store.db)).toBe(FULL);
      let inside = -1;
      // An ordinary write asked for while the deferred one runs waits for it and commits FULL.
      let overlapping: Promise<number> | undefined;
      await store.deferredTransaction(async (trx) => {
        overlapping = store.db.transaction().execute((other) => synchronous(other));
        inside = await synchronous(trx);
      });
      expect(inside).toBe(NORMAL);
      expect(await overlapping).toBe(FULL);
      await expect(store.deferredTransaction(() => Promise.reject(new Error('fails')))).rejects.toThrow('fails');
      expect(await synchronous(store.db)).toBe(FULL);
    });
  });
});
