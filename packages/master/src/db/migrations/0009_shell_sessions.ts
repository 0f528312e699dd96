import type { Kysely, Migration } from 'kysely';

/**
 * Shell sessions: who opened a terminal on which node, when it started and ended and how, and
 * its asciicast v2 recording (text, written once when the session ends), kept in the database
 * so every master of a scale-out can list and serve it.
 */
export const shellSessionsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('shell_sessions')
      .addColumn('session_id', 'text', (c) => c.primaryKey())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('username', 'text', (c) => c.notNull())
      .addColumn('command', 'text')
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('ended_at', 'bigint')
      .addColumn('exit_code', 'integer')
      .addColumn('signal', 'text')
      .addColumn('end_reason', 'text')
      .addColumn('recording', 'text')
      .addColumn('recording_bytes', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('shell_sessions_started').on('shell_sessions').columns(['started_at']).execute();
    await db.schema
      .createIndex('shell_sessions_node')
      .on('shell_sessions')
      .columns(['node_id', 'started_at'])
      .execute();
  },
};
