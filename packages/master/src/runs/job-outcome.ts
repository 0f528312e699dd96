import type { JobOutcome, JobState, RunState } from '@edgestelle/protocol';

/**
 * How a job ended, from its final state and its runs' counts: the one rule (the migration that
 * backfilled old jobs spells it in SQL). A job an operator cancelled is `cancelled` whatever
 * ran before; otherwise the runs decide.
 */
export function jobOutcome(finalState: JobState, counts: Readonly<Record<RunState, number>>): JobOutcome {
  if (finalState === 'cancelled') return 'cancelled';
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  if (counts.succeeded === total) return 'succeeded';
  if (counts.cancelled === total) return 'cancelled';
  if (counts.succeeded === 0) return 'failed';
  return 'partial';
}
