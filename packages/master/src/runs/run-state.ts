import { isTerminalRunState, type RunState } from '@edgestelle/protocol';

/**
 * The run lifecycle (docs/DESIGN.md "Run states"). Every state change goes through
 * {@link canTransition}; nothing leaves a terminal state, so a late or repeated event can
 * never revive a finished run.
 */
const allowed: Record<RunState, readonly RunState[]> = {
  // not_started: a rollout stopped before this run's wave (docs/API.md "Rollouts in waves").
  queued: ['sent', 'cancelled', 'expired', 'not_started'],
  sent: ['accepted', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted', 'rejected', 'expired'],
  // rejected: the agent accepted the run but could not start it (spawn failed, deadline passed
  // while it waited for a slot); it never ran.
  accepted: ['running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted', 'rejected'],
  running: ['succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted'],
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
  interrupted: [],
  rejected: [],
  expired: [],
  not_started: [],
};

export function canTransition(from: RunState, to: RunState): boolean {
  return allowed[from].includes(to);
}

/** States that count against a job's failure threshold. */
export const failureStates: readonly RunState[] = ['failed', 'timed_out', 'interrupted', 'rejected', 'expired'];
/** Delivered to an agent and not finished: these take a concurrency slot. */
export const activeStates: readonly RunState[] = ['sent', 'accepted', 'running'];
/** Jobs that may still start runs: retention leaves them alone. */
export const activeJobStates: readonly string[] = ['running', 'paused'];
/** Not terminal yet. */
export const openStates: readonly RunState[] = ['queued', ...activeStates];

export { isTerminalRunState };

/** Every run state with 0: counts start here so each state is a key. */
export function zeroRunCounts(): Record<RunState, number> {
  return {
    queued: 0,
    sent: 0,
    accepted: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    timed_out: 0,
    cancelled: 0,
    interrupted: 0,
    rejected: 0,
    expired: 0,
    not_started: 0,
  };
}
