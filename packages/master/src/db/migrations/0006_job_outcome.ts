import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Jobs gain how they ended (`outcome`, null while active) and the offline targets an
 * online-only job left out. Finished jobs from before are given the outcome their runs say,
 * by the same rule as `jobOutcome` (runs/job-outcome.ts), written out in SQL once.
 */
export const jobOutcomeMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').addColumn('outcome', 'text').execute();
    await db.schema.alterTable('jobs').addColumn('left_out', 'text').execute();
    await db.schema.createIndex('jobs_outcome').on('jobs').columns(['outcome', 'job_id']).execute();
    await sql`UPDATE jobs SET outcome = CASE
        WHEN state = 'cancelled' THEN 'cancelled'
        WHEN NOT EXISTS (SELECT 1 FROM runs WHERE runs.job_id = jobs.job_id AND runs.state <> 'succeeded') THEN 'succeeded'
        WHEN NOT EXISTS (SELECT 1 FROM runs WHERE runs.job_id = jobs.job_id AND runs.state <> 'cancelled') THEN 'cancelled'
        WHEN NOT EXISTS (SELECT 1 FROM runs WHERE runs.job_id = jobs.job_id AND runs.state = 'succeeded') THEN 'failed'
        ELSE 'partial' END
      WHERE finished_at IS NOT NULL`.execute(db);
  },
};
