import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { walSync } from './wal-sync.ts';

describe('walSync', () => {
  it('gives a caller that comes during a sync the next one, shared with everyone else who waits', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'group.db');
    const database = new SQLite(path);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.exec('CREATE TABLE t (n INTEGER)');
    const sync = walSync(path);
    try {
      const order: string[] = [];
      const first = sync();
      database.prepare('INSERT INTO t VALUES (1)').run();
      const second = sync();
      const third = sync();
      // The first sync may have begun before the INSERT: those after it share one more.
      expect(second).not.toBe(first);
      expect(third).toBe(second);
      await Promise.all([
        first.then(() => order.push('first')),
        second.then(() => order.push('second')),
        third.then(() => order.push('third')),
      ]);
      expect(order).toEqual(['first', 'second', 'third']);
      // Idle again: a new caller starts a sync of its own at once.
      const fourth = sync();
      expect(fourth).not.toBe(second);
      await fourth;
    } finally {
      database.close();
    }
  });

  it('rejects when there is no WAL file to sync, and the next call tries again', async () => {
    await using dir = await tempDir();
    const sync = walSync(join(dir.path, 'missing.db'));
    await expect(sync()).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(sync()).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
