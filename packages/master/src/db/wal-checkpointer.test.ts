import { readFileSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { tempDir } from '@edgestelle/testkit';
import { sql } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import { capturingLogger } from '../../test/support/logs.ts';
import { openStore } from './connect.ts';
import { startWalCheckpointer } from './wal-checkpointer.ts';

const MIB = 1024 * 1024;

function walDatabase(path: string): SQLite.Database {
  const database = new SQLite(path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.exec('CREATE TABLE t (b BLOB)');
  return database;
}

/**
 * Whether every frame in the WAL has been copied into the database file: the WAL index's
 * nBackfill equals its mxFrame (https://www.sqlite.org/walformat.html, "The WAL-Index Header";
 * native byte order). The next commit then starts the WAL over.
 */
function walCopiedToDatabase(path: string): boolean {
  const header = readFileSync(`${path}-shm`).subarray(0, 136);
  const u32 = (offset: number): number =>
    endianness() === 'LE' ? header.readUInt32LE(offset) : header.readUInt32BE(offset);
  const mxFrame = u32(16);
  const nBackfill = u32(96);
  return mxFrame > 0 && nBackfill === mxFrame;
}

const autoCheckpoint = (database: SQLite.Database): unknown => database.pragma('wal_autocheckpoint', { simple: true });

describe('startWalCheckpointer', () => {
  it('keeps the WAL bounded from its own thread while the main connection no longer checkpoints', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'ck.db');
    const database = walDatabase(path);
    const checkpointer = await startWalCheckpointer(database, path, undefined, 20);
    try {
      expect(autoCheckpoint(database)).toBe(0);
      const insert = database.prepare('INSERT INTO t VALUES (?)');
      const blob = Buffer.alloc(MIB, 7);
      // 48 MiB in 1 MiB commits: with nobody checkpointing the WAL would hold all of it. Each
      // waits for the worker to have copied the one before into the database file, so that it
      // starts the WAL over.
      for (let i = 0; i < 48; i += 1) {
        insert.run(blob);
        await vi.waitFor(
          () => {
            if (!walCopiedToDatabase(path)) throw new Error(`commit ${i + 1} not checkpointed`);
          },
          { timeout: 10_000, interval: 5 },
        );
      }
      expect(statSync(`${path}-wal`).size).toBeLessThan(16 * MIB);
      expect(database.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 48 });
    } finally {
      await checkpointer.close();
    }
    expect(autoCheckpoint(database)).toBe(1000);
    database.close();
  });

  it('leaves checkpointing to the main connection when the worker cannot open the database, and says so', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'ck.db');
    const database = walDatabase(path);
    const { logger, logged } = capturingLogger('error');
    const checkpointer = await startWalCheckpointer(database, join(dir.path, 'missing.db'), logger);
    expect(autoCheckpoint(database)).toBe(1000);
    await checkpointer.close();
    expect(logged).toEqual([
      expect.objectContaining({ msg: 'the WAL checkpoint worker failed; the main connection checkpoints again' }),
    ]);
    database.close();
  });

  it('is what a SQLite store checkpoints with, until it closes', async () => {
    await using dir = await tempDir();
    const store = await openStore(join(dir.path, 'master.db'));
    try {
      const { rows } = await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(store.db);
      expect(rows).toEqual([{ wal_autocheckpoint: 0 }]);
    } finally {
      await store.close();
    }
  });
});
