import type { Kysely, Migration } from 'kysely';

/**
 * Schedules (a saved job, a cron expression in a time zone, their fires) and webhooks (their
 * durable delivery queue and every attempt). Jobs remember the schedule that made them.
 */
export const schedulesAndWebhooks: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('schedules')
      .addColumn('schedule_id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('cron', 'text', (c) => c.notNull())
      .addColumn('timezone', 'text', (c) => c.notNull())
      .addColumn('job', 'text', (c) => c.notNull())
      .addColumn('overlap', 'text', (c) => c.notNull())
      .addColumn('missed', 'text', (c) => c.notNull())
      .addColumn('jitter_ms', 'bigint', (c) => c.notNull())
      .addColumn('start_at', 'bigint')
      .addColumn('end_at', 'bigint')
      .addColumn('paused', 'integer', (c) => c.notNull())
      // The claim: a master fires a cron time only by moving next_fire_at on from it, with a
      // conditional update in the transaction that creates the job.
      .addColumn('next_fire_at', 'bigint')
      .addColumn('queued_fire_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('schedules_due').on('schedules').columns(['paused', 'next_fire_at']).execute();
    await db.schema
      .createTable('schedule_fires')
      .addColumn('fire_id', 'text', (c) => c.primaryKey())
      .addColumn('schedule_id', 'text', (c) => c.notNull().references('schedules.schedule_id').onDelete('cascade'))
      .addColumn('scheduled_at', 'bigint', (c) => c.notNull())
      .addColumn('fired_at', 'bigint', (c) => c.notNull())
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('job_id', 'text')
      .addColumn('actor', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('schedule_fires_schedule')
      .on('schedule_fires')
      .columns(['schedule_id', 'fire_id'])
      .execute();

    await db.schema.alterTable('jobs').addColumn('schedule_id', 'text').execute();
    await db.schema.alterTable('jobs').addColumn('schedule_name', 'text').execute();
    await db.schema.createIndex('jobs_schedule').on('jobs').columns(['schedule_name', 'job_id']).execute();
    await db.schema.createIndex('jobs_schedule_open').on('jobs').columns(['schedule_id', 'finished_at']).execute();
    // The webhooks' catch-up looks for jobs that ended lately (webhooks/webhook-events.ts).
    await db.schema.createIndex('jobs_finished_at').on('jobs').column('finished_at').execute();

    await db.schema
      .createTable('webhooks')
      .addColumn('webhook_id', 'text', (c) => c.primaryKey())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('events', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      // Sealed under the master secret (webhooks/webhook-secret.ts): a copied database signs nothing.
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('delivery_id', 'text', (c) => c.primaryKey())
      .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.webhook_id').onDelete('cascade'))
      .addColumn('event', 'text', (c) => c.notNull())
      // One delivery per webhook and happening, whichever master noticed it (null: no such key).
      .addColumn('event_key', 'text')
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint')
      // The master that claimed the next attempt holds it until then; a dead one's claim lapses.
      .addColumn('lease_until', 'bigint')
      .addColumn('attempt_count', 'integer', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_key')
      .on('webhook_deliveries')
      .columns(['webhook_id', 'event_key'])
      .unique()
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_due')
      .on('webhook_deliveries')
      .columns(['state', 'next_attempt_at'])
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_hook')
      .on('webhook_deliveries')
      .columns(['webhook_id', 'delivery_id'])
      .execute();
    await db.schema
      .createTable('webhook_attempts')
      .addColumn('delivery_id', 'text', (c) =>
        c.notNull().references('webhook_deliveries.delivery_id').onDelete('cascade'),
      )
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('duration_ms', 'bigint', (c) => c.notNull())
      .addColumn('status', 'integer')
      .addColumn('error', 'text')
      .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_id', 'attempt'])
      .execute();
  },
};
