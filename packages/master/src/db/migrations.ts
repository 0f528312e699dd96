import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from './connect.ts';

/**
 * The one set of migrations for both databases, in code so they ship inside the build.
 * Where the DDL differs (binary column type) the dialect decides; nothing else branches.
 */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '0001_run_path': {
      async up(db: Kysely<unknown>) {
        const blob = dialect === 'postgres' ? 'bytea' : 'blob';
        await db.schema
          .createTable('users')
          .addColumn('user_id', 'text', (c) => c.primaryKey())
          .addColumn('username', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('sessions')
          .addColumn('session_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.user_id').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
        await db.schema
          .createTable('api_tokens')
          .addColumn('token_id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.user_id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint')
          .addColumn('last_used_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema.createIndex('api_tokens_user').on('api_tokens').column('user_id').execute();
        await db.schema
          .createTable('join_tokens')
          .addColumn('token_id', 'text', (c) => c.primaryKey())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('max_uses', 'integer')
          .addColumn('uses', 'integer', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .addColumn('created_by', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('nodes')
          .addColumn('node_id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('key_epoch', 'integer', (c) => c.notNull())
          .addColumn('mqtt_password_hash', 'text', (c) => c.notNull())
          .addColumn('base_tags', 'text', (c) => c.notNull())
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('facts', 'text')
          .addColumn('online', 'integer', (c) => c.notNull())
          .addColumn('connection_seq', 'bigint', (c) => c.notNull())
          .addColumn('beat', 'bigint', (c) => c.notNull())
          .addColumn('last_seen_at', 'bigint')
          .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema
          .createTable('jobs')
          .addColumn('job_id', 'text', (c) => c.primaryKey())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('spec', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('concurrency', 'text')
          .addColumn('max_failures', 'text')
          .addColumn('deadline_at', 'bigint', (c) => c.notNull())
          .addColumn('node_count', 'integer', (c) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .addColumn('stop_reason', 'text')
          .execute();
        await db.schema.createIndex('jobs_state').on('jobs').column('state').execute();
        await db.schema
          .createTable('runs')
          .addColumn('run_id', 'text', (c) => c.primaryKey())
          .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.job_id').onDelete('cascade'))
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('exit_code', 'integer')
          .addColumn('signal', 'text')
          .addColumn('reason', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('sent_at', 'bigint')
          .addColumn('started_at', 'bigint')
          .addColumn('ended_at', 'bigint')
          .addColumn('output_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('output_truncated', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_seq', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('exited_seq', 'integer')
          .addColumn('cancel_requested_at', 'bigint')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('runs_job').on('runs').columns(['job_id', 'state']).execute();
        await db.schema.createIndex('runs_node_state').on('runs').columns(['node_id', 'state']).execute();
        await db.schema.createIndex('runs_state').on('runs').column('state').execute();
        await db.schema
          .createTable('run_chunks')
          .addColumn('run_id', 'text', (c) => c.notNull().references('runs.run_id').onDelete('cascade'))
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('data', sql.raw(blob), (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('run_chunks_pk', ['run_id', 'seq'])
          .execute();
      },
    },
  };
  return { getMigrations: () => Promise.resolve(migrations) };
}
