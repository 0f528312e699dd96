import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

/** The open database as every part of the master sees it; `openStore` (connect.ts) makes one. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** For LISTEN/NOTIFY (PostgreSQL only). */
  readonly postgresUrl: string | undefined;
  /** The SQLite file (its size is shown to admins), unless PostgreSQL. */
  readonly sqlitePath: string | undefined;
  /**
   * A transaction whose COMMIT does not wait for the disk, for the hot write paths (ingest,
   * the search index): what it stored is durable once {@link durable} resolves. Everything
   * else commits durably as usual. PostgreSQL's COMMIT is durable already.
   */
  deferredTransaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /** Resolves once every commit made so far is on disk. */
  durable(): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
