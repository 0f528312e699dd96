import type { RunState } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { jobOutcome } from './job-outcome.ts';
import { zeroRunCounts } from './run-state.ts';

function counts(some: Partial<Record<RunState, number>>): Record<RunState, number> {
  return { ...zeroRunCounts(), ...some };
}

describe('jobOutcome', () => {
  it.each([
    ['finished', { succeeded: 3 }, 'succeeded'],
    ['finished', { failed: 1, timed_out: 1, expired: 1 }, 'failed'],
    ['finished', { succeeded: 2, rejected: 1 }, 'partial'],
    ['finished', { succeeded: 1, cancelled: 1 }, 'partial'],
    ['finished', { cancelled: 2 }, 'cancelled'],
    ['stopped', { failed: 2, cancelled: 5 }, 'failed'],
    ['stopped', { succeeded: 1, failed: 2, cancelled: 5 }, 'partial'],
    ['cancelled', { succeeded: 4 }, 'cancelled'],
  ] as const)('a %s job with runs %o ended %s', (state, runs, outcome) => {
    expect(jobOutcome(state, counts(runs))).toBe(outcome);
  });
});
