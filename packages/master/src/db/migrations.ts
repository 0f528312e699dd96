import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { jobOutcomeMigration } from './migrations/0006_job_outcome.ts';
import { rolloutWaves } from './migrations/0007_rollout_waves.ts';
import { schedulesAndWebhooks } from './migrations/0008_schedules_webhooks.ts';
import { shellSessionsMigration } from './migrations/0009_shell_sessions.ts';
import type { Dialect } from './store.ts';

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
    '0002_team': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('users').addColumn('disabled_at', 'bigint').execute();
        await db.schema.alterTable('users').addColumn('last_login_at', 'bigint').execute();
        // Sessions gain a public id (to list and revoke them); sessions from before have none: sign in again.
        await sql`DELETE FROM sessions`.execute(db);
        await db.schema.alterTable('sessions').addColumn('session_id', 'text').execute();
        await db.schema.alterTable('sessions').addColumn('ip', 'text').execute();
        await db.schema.alterTable('sessions').addColumn('user_agent', 'text').execute();
        await db.schema.alterTable('sessions').addColumn('last_seen_at', 'bigint').execute();
        await db.schema.createIndex('sessions_id').on('sessions').column('session_id').unique().execute();
        await db.schema.alterTable('api_tokens').addColumn('role', 'text').execute();
        await sql`UPDATE api_tokens SET role = (SELECT role FROM users WHERE users.user_id = api_tokens.user_id)`.execute(
          db,
        );

        await db.schema
          .createTable('audit_events')
          .addColumn('event_id', 'text', (c) => c.primaryKey())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('ip', 'text')
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text')
          .addColumn('details', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
        await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor', 'at']).execute();
        await db.schema.createIndex('audit_events_target').on('audit_events').column('target').execute();

        await db.schema
          .createTable('scripts')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('interpreter', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('parameters', 'text', (c) => c.notNull())
          .addColumn('timeout_ms', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('scripts_pk', ['name', 'version'])
          .execute();

        await db.schema.alterTable('jobs').addColumn('script_name', 'text').execute();
        await db.schema.alterTable('jobs').addColumn('script_version', 'integer').execute();
        await db.schema.alterTable('jobs').addColumn('params', 'text').execute();
        await db.schema.createIndex('jobs_created_at').on('jobs').column('created_at').execute();
        await db.schema.createIndex('jobs_script').on('jobs').columns(['script_name', 'job_id']).execute();
        await db.schema.createIndex('jobs_created_by').on('jobs').columns(['created_by', 'job_id']).execute();
        await db.schema.createIndex('runs_node_run').on('runs').columns(['node_id', 'run_id']).execute();

        // The search index: output cut into lines once the run's chunks are stored without a gap.
        await db.schema
          .alterTable('runs')
          .addColumn('index_seq', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('runs')
          .addColumn('index_line', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        /** The unfinished line of each stream (JSON), carried to the next chunk. */
        await db.schema.alterTable('runs').addColumn('index_carry', 'text').execute();
        await db.schema
          .createTable('output_lines')
          .addColumn('line_id', 'integer', (c) =>
            dialect === 'postgres' ? c.generatedAlwaysAsIdentity().primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('run_id', 'text', (c) => c.notNull().references('runs.run_id').onDelete('cascade'))
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('line_no', 'integer', (c) => c.notNull())
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('line', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('output_lines_run').on('output_lines').columns(['run_id', 'line_no']).execute();
        if (dialect === 'sqlite') {
          // External-content FTS5 with the trigram tokenizer: substring matches (LIKE), as pg_trgm
          // gives. detail=none halves the index (measured: 31 vs 58 MB for 200,000 lines) and
          // still answers LIKE from the index; only phrase MATCH needs positions, and we use LIKE.
          await sql`CREATE VIRTUAL TABLE output_lines_fts USING fts5(line, content='output_lines', content_rowid='line_id', tokenize='trigram', detail='none')`.execute(
            db,
          );
          await sql`CREATE TRIGGER output_lines_ai AFTER INSERT ON output_lines BEGIN
            INSERT INTO output_lines_fts(rowid, line) VALUES (new.line_id, new.line); END`.execute(db);
          await sql`CREATE TRIGGER output_lines_ad AFTER DELETE ON output_lines BEGIN
            INSERT INTO output_lines_fts(output_lines_fts, rowid, line) VALUES ('delete', old.line_id, old.line); END`.execute(
            db,
          );
        } else {
          const trgm = await sql<{
            n: number;
          }>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'`.execute(db);
          if ((trgm.rows[0]?.n ?? 0) > 0) {
            await sql`CREATE INDEX output_lines_trgm ON output_lines USING gin (line gin_trgm_ops)`.execute(db);
          }
        }
      },
    },
    '0003_join_token_node': {
      async up(db: Kysely<unknown>) {
        // A join token an admin made for one node id: the only token that may enroll that id
        // again once it is enrolled. Null (every token made before): new node ids only.
        await db.schema.alterTable('join_tokens').addColumn('node_id', 'text').execute();
      },
    },
    '0004_secret_env': {
      async up(db: Kysely<unknown>) {
        // A job's secret variables: the values sealed (runs/secret-env.ts), the names apart in
        // the clear, so showing a job never opens the values.
        const blob = dialect === 'postgres' ? 'bytea' : 'blob';
        await db.schema.alterTable('jobs').addColumn('secret_env', sql.raw(blob)).execute();
        await db.schema.alterTable('jobs').addColumn('secret_env_names', 'text').execute();
      },
    },
    '0005_search_whole_lines': {
      async up(db: Kysely<unknown>) {
        // Lines used to be indexed only up to their 2,000th UTF-16 unit (at least 1,000
        // characters as SQL counts them): the runs holding such a line are indexed again from
        // their first chunk; the indexer's scan at start finds them (index_seq < next_seq).
        await sql`UPDATE runs SET index_seq = 0, index_line = 0, index_carry = NULL
          WHERE run_id IN (SELECT run_id FROM output_lines WHERE length(line) >= 1000)`.execute(db);
        await sql`DELETE FROM output_lines WHERE run_id IN (SELECT run_id FROM runs WHERE index_seq = 0)`.execute(db);
      },
    },
    '0006_job_outcome': jobOutcomeMigration,
    '0007_rollout_waves': rolloutWaves,
    '0008_schedules_webhooks': schedulesAndWebhooks,
    '0009_shell_sessions': shellSessionsMigration,
  };
  return { getMigrations: () => Promise.resolve(migrations) };
}
