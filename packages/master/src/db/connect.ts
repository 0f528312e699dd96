import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { MasterError, MasterErrorCode } from '../errors.ts';
import { ensurePrivateDataFile } from '../private-files.ts';
import { migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';
import type { Dialect, Store } from './store.ts';
import { withStatementCache } from './statement-cache.ts';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.ts';
import { groupCommit, type GroupCommit } from './wal-sync.ts';

const INT8_OID = 20;
/** Files SQLite keeps beside the database: an older master's may be 0644. */
const SQLITE_SIDE_FILES = ['-wal', '-shm', '-journal'] as const;

/** Opens the database named by the URL (SQLite file or postgres://) and runs the migrations. */
export async function openStore(databaseUrl: string, logger?: Logger): Promise<Store> {
  const isPostgres = /^postgres(ql)?:\/\//.test(databaseUrl);
  let db: Kysely<Database>;
  let sqlitePath: string | undefined;
  let deferred: GroupCommit | undefined;
  let checkpointer: WalCheckpointer | undefined;
  if (isPostgres) {
    const pool = new pg.Pool({
      connectionString: databaseUrl,
      max: 10,
      types: int8AsNumber(),
    });
    // An idle connection the server ends (restart, failover) must not take the process down.
    pool.on('error', (err) => logger?.warn({ err }, 'an idle PostgreSQL connection failed; the pool replaces it'));
    // pg-pool drops its own 'error' listener from a client while it is checked out, so a server
    // that goes away mid-transaction would emit an unhandled 'error' and end the process. The
    // statement in flight still fails and its caller handles that (db-connection-loss.test.ts).
    pool.on('connect', (client) => {
      client.on('error', (err) => logger?.warn({ err }, 'a PostgreSQL connection in use failed'));
    });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    const path = databaseUrl.replace(/^(sqlite|file):(\/\/)?/, '');
    sqlitePath = path;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // SQLite makes a new database 0644, and its -wal and -shm with the main file's mode: a file
    // made 0600 first (an empty file is an empty database) keeps all three private.
    ensurePrivateDataFile(path, true, logger);
    for (const suffix of SQLITE_SIDE_FILES) ensurePrivateDataFile(`${path}${suffix}`, false, logger);
    const database = new SQLite(path);
    const journalMode: unknown = database.pragma('journal_mode = WAL', { simple: true });
    // FULL: the master acknowledges chunks after COMMIT and the agent then deletes them, so a
    // commit must survive a power cut (NORMAL in WAL mode may lose the last transactions).
    database.pragma('synchronous = FULL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
    // Only in WAL mode do NORMAL commits stay consistent and wait in one file for the sync.
    if (journalMode === 'wal') {
      deferred = groupCommit(db, path);
      checkpointer = await startWalCheckpointer(database, path, logger);
    } else logger?.warn({ journalMode, path }, 'SQLite refused WAL mode: every commit waits for the disk');
  }
  const dialect: Dialect = isPostgres ? 'postgres' : 'sqlite';
  try {
    if (isPostgres) await ensureTrigram(db, logger);
    const { error, results } = await new Migrator({ db, provider: migrationProvider(dialect) }).migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (error !== undefined || failed !== undefined) {
      throw new MasterError(
        MasterErrorCode.unavailable,
        `database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  } catch (cause) {
    await checkpointer?.close();
    await db.destroy();
    if (cause instanceof MasterError) throw cause;
    throw new MasterError(
      MasterErrorCode.unavailable,
      `cannot open the database ${redactUrl(databaseUrl)}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  return {
    db,
    dialect,
    postgresUrl: isPostgres ? databaseUrl : undefined,
    sqlitePath,
    deferredTransaction: (work) => deferred?.deferredTransaction(work) ?? db.transaction().execute(work),
    durable: () => deferred?.durable() ?? Promise.resolve(),
    async ping() {
      try {
        await sql`SELECT 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await checkpointer?.close();
      await db.destroy();
    },
  };
}

/**
 * Log search wants pg_trgm (a trusted extension: any user with CREATE on the database may add
 * it). Without it search still works, by scanning; the operator is told how to fix that.
 */
async function ensureTrigram(db: Kysely<Database>, logger: Logger | undefined): Promise<void> {
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);
  } catch (err) {
    logger?.warn(
      { err },
      'cannot create the pg_trgm extension: log search will scan instead of using an index (run CREATE EXTENSION pg_trgm as a superuser, then restart)',
    );
  }
}

/** Epoch milliseconds live in BIGINT columns (int8, a string by default in pg) and fit a double exactly. */
function int8AsNumber(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, (value: string) => Number(value));
  return types;
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
