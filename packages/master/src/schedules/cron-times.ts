import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import { MasterError, MasterErrorCode } from '../errors.ts';

/** A schedule's timing: when it may fire at all, and how it is spread. */
export interface CronTiming {
  cron: string;
  timezone: string;
  startAt: number | null;
  endAt: number | null;
}

/**
 * Cron times in an IANA zone, by croner. Local times that a DST change skips fire once at the
 * first instant after the gap (02:30 on a spring-forward night runs at 03:00); local times that
 * happen twice fire once, at the first of them.
 */
export function parseCron(expression: string, timezone: string): Cron {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new MasterError(
      MasterErrorCode.invalidRequest,
      `the cron expression has ${fields.length} fields; give 5: minute hour day-of-month month day-of-week`,
      { field: 'cron' },
    );
  }
  try {
    // paused: this object only computes times; the scheduler's own loop fires.
    return new Cron(fields.join(' '), { timezone, paused: true, mode: '5-part' });
  } catch (cause) {
    throw new MasterError(
      MasterErrorCode.invalidRequest,
      `the cron expression '${expression}' is not valid: ${cause instanceof Error ? cause.message : String(cause)}`,
      { field: 'cron', cause },
    );
  }
}

/** The first cron time strictly after `afterMs` within [startAt, endAt], or null if none is left. */
export function nextFireAfter(timing: CronTiming, afterMs: number): number | null {
  return nextFireTimes(timing, afterMs, 1)[0] ?? null;
}

/** Up to `count` cron times strictly after `afterMs`, within [startAt, endAt]. */
export function nextFireTimes(timing: CronTiming, afterMs: number, count: number): number[] {
  const cron = parseCron(timing.cron, timing.timezone);
  // croner fires strictly after the date it is given; a start time is itself a possible fire.
  const from = timing.startAt !== null && timing.startAt - 1 > afterMs ? timing.startAt - 1 : afterMs;
  const times: number[] = [];
  let cursor = new Date(from);
  for (let i = 0; i < count; i += 1) {
    const next = cron.nextRun(cursor);
    if (next === null) break;
    const at = next.getTime();
    if (timing.endAt !== null && at > timing.endAt) break;
    times.push(at);
    cursor = next;
  }
  return times;
}

/**
 * How long after its cron time a fire waits: the same for every master (derived from the
 * schedule and the cron time), so whichever master fires does so at the same moment.
 */
export function jitterFor(scheduleId: string, fireAt: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  const digest = createHash('sha256').update(`${scheduleId}/${fireAt}`).digest();
  return digest.readUInt32BE(0) % (jitterMs + 1);
}
