import { open } from 'node:fs/promises';
import { sql, type Kysely } from 'kysely';
import type { Store } from './store.ts';
import type { Database } from './schema.ts';

export type GroupCommit = Pick<Store, 'deferredTransaction' | 'durable'>;

/**
 * A SQLite database in WAL mode, opened `synchronous = FULL`: a deferred transaction commits
 * `NORMAL` (no fsync) and {@link walSync} makes it durable later. The pragma holds for exactly
 * that transaction, which no other statement can interleave with while its one connection is held.
 */
export function groupCommit(db: Kysely<Database>, databasePath: string): GroupCommit {
  return {
    deferredTransaction: (work) =>
      db.connection().execute(async (connection) => {
        await sql`PRAGMA synchronous = NORMAL`.execute(connection);
        try {
          return await connection.transaction().execute(work);
        } finally {
          await sql`PRAGMA synchronous = FULL`.execute(connection);
        }
      }),
    durable: walSync(databasePath),
  };
}

/**
 * Group commit for SQLite in WAL mode. A transaction committed with `synchronous = NORMAL` has
 * its frames in the WAL file but not yet on disk; one fdatasync of that file, on the thread
 * pool, then makes it and every commit before it durable. Callers that commit while a sync
 * runs share the next one, so under load one fsync serves many commits and the event loop
 * never waits for the disk (with `synchronous = FULL` each COMMIT blocked it ~5 ms here).
 */
export function walSync(databasePath: string): () => Promise<void> {
  const walPath = `${databasePath}-wal`;
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;

  const syncOnce = async (): Promise<void> => {
    // Opened per sync: an fd kept across a WAL file re-created by SQLite would sync the old one.
    const handle = await open(walPath, 'r+');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  };

  const sync = (): Promise<void> => {
    if (running === undefined) {
      running = syncOnce().finally(() => {
        running = undefined;
      });
      return running;
    }
    // The running sync may have started before the caller's commit: it needs the one after.
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return sync();
      });
    return next;
  };
  return sync;
}
