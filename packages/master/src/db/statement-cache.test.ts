import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { tempDir } from '@edgestelle/testkit';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { withStatementCache } from './statement-cache.ts';

describe('withStatementCache', () => {
  it('reuses statements, evicts the least recently used, and never hands out one that is mid-iteration', async () => {
    await using dir = await tempDir();
    const database = new SQLite(join(dir.path, 'cache.db'));
    const cached = withStatementCache(database, 2);
    cached.prepare('CREATE TABLE t (n INTEGER)').run([]);
    const insert = cached.prepare('INSERT INTO t VALUES (?)');
    for (let n = 0; n < 3; n += 1) expect(cached.prepare('INSERT INTO t VALUES (?)')).toBe(insert);
    insert.run([1]);
    insert.run([2]);

    const select = cached.prepare('SELECT n FROM t ORDER BY n');
    const rows = select.iterate([]);
    rows.next();
    const second = cached.prepare('SELECT n FROM t ORDER BY n');
    expect(second).not.toBe(select);
    expect(second.all([])).toEqual([{ n: 1 }, { n: 2 }]);
    rows.return?.();

    // Capacity 2: the INSERT was used least recently and goes.
    cached.prepare('SELECT count(*) AS c FROM t');
    expect(cached.prepare('INSERT INTO t VALUES (?)')).not.toBe(insert);
    cached.close();
  });

  it('serves Kysely queries, writes included', async () => {
    await using dir = await tempDir();
    const db = new Kysely<{ t: { n: number } }>({
      dialect: new SqliteDialect({ database: withStatementCache(new SQLite(join(dir.path, 'k.db'))) }),
    });
    await sql`CREATE TABLE t (n INTEGER)`.execute(db);
    for (let n = 0; n < 10; n += 1) await db.insertInto('t').values({ n }).execute();
    const updated = await db.updateTable('t').set({ n: 0 }).where('n', '>', 4).executeTakeFirst();
    expect(Number(updated.numUpdatedRows)).toBe(5);
    expect(await db.selectFrom('t').select('n').where('n', '=', 0).execute()).toHaveLength(6);
    await db.destroy();
  });
});
