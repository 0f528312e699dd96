import type { Kysely, Migration } from 'kysely';

/**
 * Rollouts in waves: the plan stored with the job, each run's wave, and where the job stands
 * (the wave released so far, a running wave pause, the gate holding a paused job). Every
 * column is nullable: a job from before, or without waves, is one wave of all its nodes.
 */
export const rolloutWaves: Migration = {
  async up(db: Kysely<unknown>) {
    /** JSON of the create request's `rollout` (waves, maxFailureRate, wavePauseMs, approve). */
    await db.schema.alterTable('jobs').addColumn('rollout', 'text').execute();
    /** The last wave released (1-based); runs of later waves wait. Advanced by a conditional update. */
    await db.schema.alterTable('jobs').addColumn('wave', 'integer').execute();
    /** While a wave pause runs: when the next wave may start. */
    await db.schema.alterTable('jobs').addColumn('wave_opens_at', 'bigint').execute();
    /** The wave whose gate holds the paused job; null when an operator paused it mid-wave. */
    await db.schema.alterTable('jobs').addColumn('paused_gate', 'integer').execute();
    await db.schema.alterTable('jobs').addColumn('paused_reason', 'text').execute();
    /** How long a released run may wait for its node: the deadline moves on by this at each wave and resume. */
    await db.schema.alterTable('jobs').addColumn('offline_deadline_ms', 'bigint').execute();
    await db.schema.alterTable('runs').addColumn('wave', 'integer').execute();
  },
};
