import type { AgentEvent } from '@edgestelle/protocol';
import type { Run } from './run-lifecycle.ts';

/**
 * Each event implies the ones before it (`exited` carries the start time, `started` implies
 * `accepted`), so a run is announced only if it is still going this long after it came:
 * `started` if it runs, else `accepted` (waiting for a slot, a slow start), then `started` at
 * once when it starts. A quick run, most of a big fan-out, sends `exited` alone: one message to
 * the master where each step once sent its own three.
 */
export const ANNOUNCE_AFTER_MS = 100;

/** Tells the master how far a run got, unless its `exited` will. */
export class RunAnnouncer {
  /** One bound callback for every run's timer (the run is the timer's argument). */
  private readonly due = (run: Run): void => {
    run.announceTimer = undefined;
    if (run.state === 'running') this.tellStarted(run);
    else {
      run.announced = 'accepted';
      this.publishEvent({ kind: 'accepted', runId: run.runId });
    }
  };

  constructor(private readonly publishEvent: (event: AgentEvent) => void) {}

  /** The run is on disk and about to wait for its slot. */
  arm(run: Run): void {
    run.announceTimer = setTimeout(this.due, ANNOUNCE_AFTER_MS, run);
  }

  /** Its process exists: said at once if `accepted` already went out. */
  started(run: Run): void {
    if (run.announced === 'accepted') this.tellStarted(run);
  }

  /** It left for good (exited, rejected, interrupted): nothing more to announce. */
  settle(run: Run): void {
    clearTimeout(run.announceTimer);
    run.announceTimer = undefined;
  }

  private tellStarted(run: Run): void {
    const { execution } = run.process;
    run.announced = 'started';
    this.publishEvent({ kind: 'started', runId: run.runId, pid: execution.pid, startedAt: execution.startedAt });
  }
}
