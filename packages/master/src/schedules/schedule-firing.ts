import { newId, type JobDto } from '@edgestelle/protocol';
import type { Selectable, Transaction } from 'kysely';
import type { Logger } from 'pino';
import { systemActor, type Actor } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { Database, SchedulesTable } from '../db/schema.ts';
import type { Store } from '../db/store.ts';
import { MasterError, MasterErrorCode } from '../errors.ts';
import type { MasterEvents } from '../events.ts';
import type { Dispatcher } from '../runs/dispatcher.ts';
import { jitterFor, nextFireAfter, nextFireTimes, type CronTiming } from './cron-times.ts';
import { scheduledJob } from './schedule-dto.ts';

type ScheduleRow = Selectable<SchedulesTable>;
type Trigger = 'cron' | 'missed' | 'queued' | 'manual';

export interface ScheduleFiringOptions {
  store: Store;
  dispatcher: Dispatcher;
  events: MasterEvents;
  clock: Clock;
  logger: Logger;
  /** A fire this late (past its cron time and jitter) fell while no master ran: the missed-fire policy decides. */
  missedAfterMs?: number;
}

/** What a fire records beside its outcome. */
interface FireRecord {
  trigger: Trigger;
  scheduledAt: number;
  outcome: 'started' | 'skipped' | 'queued' | 'failed';
  reason: string | null;
  jobId: string | null;
  actor: string;
}

/** How a fire takes its cron time for itself, inside the transaction that records it. */
type Claim = (trx: Transaction<Database>) => Promise<boolean>;

/** Another master recorded this cron time first: the job made for it is rolled back. */
class ClaimLost extends Error {}

/** Cron times past before a missed fire is counted exactly (beyond: "at least"). */
const MISSED_COUNT_CAP = 1000;
/** Schedules looked at per tick; the rest wait for the next one. */
const DUE_BATCH = 100;

/**
 * Fires due schedules. Each cron time is fired by exactly one master: the fire moves the
 * schedule's next_fire_at on from that time with a conditional update (compare-and-set) in
 * the same transaction that stores the job, its runs and the fire's record; a master that
 * loses the race rolls its job back. Overlap and missed fires follow the schedule's policies,
 * and every fire, skipped or not, leaves a record.
 */
export class ScheduleFiring {
  private ticking = false;
  private readonly missedAfterMs: number;

  constructor(private readonly options: ScheduleFiringOptions) {
    this.missedAfterMs = options.missedAfterMs ?? 60_000;
  }

  private get db() {
    return this.options.store.db;
  }

  /** Fires what is due now. Returns how many schedules it acted on; a tick already running makes this one a no-op. */
  async tick(): Promise<number> {
    if (this.ticking) return 0;
    this.ticking = true;
    try {
      const nowMs = this.options.clock.now();
      const due = await this.db
        .selectFrom('schedules')
        .selectAll()
        .where('paused', '=', 0)
        .where((eb) => eb.or([eb('next_fire_at', '<=', nowMs), eb('queued_fire_at', 'is not', null)]))
        .orderBy('next_fire_at')
        .limit(DUE_BATCH)
        .execute();
      let acted = 0;
      for (const row of due) {
        try {
          if (await this.consider(row, nowMs)) acted += 1;
        } catch (err) {
          // The database failed us (nothing was claimed): the next tick tries again.
          this.options.logger.error({ err, schedule: row.name }, 'firing a schedule failed; retrying next tick');
        }
      }
      return acted;
    } finally {
      this.ticking = false;
    }
  }

  /** Deletes fire records older than `keepMs` (a schedule firing every minute makes half a million a year). */
  async prune(keepMs: number): Promise<number> {
    const gone = await this.db
      .deleteFrom('schedule_fires')
      .where('fired_at', '<', this.options.clock.now() - keepMs)
      .executeTakeFirst();
    return Number(gone.numDeletedRows);
  }

  /** `schedules run NAME`: a job now, whatever the cron says and whatever runs. */
  async fireNow(row: ScheduleRow, actor: Actor): Promise<JobDto> {
    const nowMs = this.options.clock.now();
    const fireId = newId(nowMs);
    return this.options.dispatcher.createJob(scheduledJob(row), actor.name, actor, {
      scheduleId: row.schedule_id,
      scheduleName: row.name,
      claim: async (trx, jobId) => {
        await this.insertFire(trx, row, fireId, nowMs, {
          trigger: 'manual',
          scheduledAt: nowMs,
          outcome: 'started',
          reason: null,
          jobId,
          actor: actor.name,
        });
      },
    });
  }

  private async consider(row: ScheduleRow, nowMs: number): Promise<boolean> {
    let acted = false;
    const queuedAt = row.queued_fire_at;
    if (queuedAt !== null && (await this.openJob(row)) === null) {
      const claim: Claim = async (trx) => {
        const moved = await trx
          .updateTable('schedules')
          .set({ queued_fire_at: null })
          .where('schedule_id', '=', row.schedule_id)
          .where('queued_fire_at', '=', queuedAt)
          .where('paused', '=', 0)
          .executeTakeFirst();
        return Number(moved.numUpdatedRows) > 0;
      };
      acted = await this.startJob(row, nowMs, 'queued', queuedAt, null, claim);
    }
    const due = row.next_fire_at;
    if (due === null) return acted;
    const fireAt = due + jitterFor(row.schedule_id, due, row.jitter_ms);
    if (nowMs < fireAt) return acted;
    const timing = timingOf(row);
    const late = nowMs - fireAt > this.missedAfterMs;
    const next = late ? nextFireAfter(timing, nowMs) : nextFireAfter(timing, due);
    const claim: Claim = async (trx) => {
      const moved = await trx
        .updateTable('schedules')
        .set({ next_fire_at: next })
        .where('schedule_id', '=', row.schedule_id)
        .where('next_fire_at', '=', due)
        .where('paused', '=', 0)
        .executeTakeFirst();
      return Number(moved.numUpdatedRows) > 0;
    };
    let trigger: Trigger = 'cron';
    let reason: string | null = null;
    if (late) {
      trigger = 'missed';
      const missed = missedCount(timing, due, nowMs);
      reason = `${missed} cron time${missed === '1' ? '' : 's'} from ${new Date(due).toISOString()} fell while no master was firing (missed: ${row.missed})`;
      if (row.missed === 'skip') {
        return (
          (await this.record(row, nowMs, claim, { trigger, scheduledAt: due, outcome: 'skipped', reason })) || acted
        );
      }
    }
    if (row.overlap !== 'allow') {
      const open = await this.openJob(row);
      if (open !== null) {
        const running = `job ${open} of this schedule still runs`;
        if (row.overlap === 'queue' && row.queued_fire_at === null && queuedAt === null) {
          const queue: Claim = async (trx) => {
            if (!(await claim(trx))) return false;
            await trx
              .updateTable('schedules')
              .set({ queued_fire_at: due })
              .where('schedule_id', '=', row.schedule_id)
              .execute();
            return true;
          };
          const record = {
            trigger,
            scheduledAt: due,
            outcome: 'queued' as const,
            reason: `${running}; runs when it ends`,
          };
          return (await this.record(row, nowMs, queue, record)) || acted;
        }
        const why =
          row.overlap === 'queue'
            ? `${running} and a fire is already queued (overlap: queue)`
            : `${running} (overlap: skip)`;
        return (
          (await this.record(row, nowMs, claim, { trigger, scheduledAt: due, outcome: 'skipped', reason: why })) ||
          acted
        );
      }
    }
    return (await this.startJob(row, nowMs, trigger, due, reason, claim)) || acted;
  }

  /** Creates the fire's job with the claim in its transaction; a fire that cannot start one is recorded as failed. */
  private async startJob(
    row: ScheduleRow,
    nowMs: number,
    trigger: Trigger,
    scheduledAt: number,
    reason: string | null,
    claim: Claim,
  ): Promise<boolean> {
    const fireId = newId(nowMs);
    try {
      const owner = await this.ownerRefusal(row.created_by);
      if (owner !== null) throw new MasterError(MasterErrorCode.forbidden, owner);
      const job = await this.options.dispatcher.createJob(scheduledJob(row), row.created_by, systemActor, {
        scheduleId: row.schedule_id,
        scheduleName: row.name,
        claim: async (trx, jobId) => {
          if (!(await claim(trx))) throw new ClaimLost();
          await this.insertFire(trx, row, fireId, nowMs, {
            trigger,
            scheduledAt,
            outcome: 'started',
            reason,
            jobId,
            actor: systemActor.name,
          });
        },
      });
      this.options.logger.info({ schedule: row.name, jobId: job.jobId, trigger, scheduledAt }, 'schedule fired');
      return true;
    } catch (err) {
      if (err instanceof ClaimLost) return false;
      const failure = fireFailure(err);
      if (failure === null) throw err;
      const recorded = await this.record(row, nowMs, claim, {
        trigger,
        scheduledAt,
        outcome: 'failed',
        reason: failure,
      });
      if (recorded) {
        this.options.logger.warn({ schedule: row.name, scheduledAt, reason: failure }, 'schedule fire failed');
        this.options.events.emit('scheduleFailed', {
          scheduleId: row.schedule_id,
          name: row.name,
          fireId,
          scheduledAt,
          reason: failure,
        });
      }
      return recorded;
    }
  }

  /** A fire that makes no job: the claim and its record in one transaction. */
  private async record(
    row: ScheduleRow,
    nowMs: number,
    claim: Claim,
    fire: Omit<FireRecord, 'jobId' | 'actor'>,
  ): Promise<boolean> {
    const recorded = await this.db.transaction().execute(async (trx) => {
      if (!(await claim(trx))) return false;
      await this.insertFire(trx, row, newId(nowMs), nowMs, { ...fire, jobId: null, actor: systemActor.name });
      return true;
    });
    if (recorded) this.options.logger.info({ schedule: row.name, ...fire }, 'schedule fire recorded');
    return recorded;
  }

  private async insertFire(
    trx: Transaction<Database>,
    row: ScheduleRow,
    fireId: string,
    nowMs: number,
    fire: FireRecord,
  ): Promise<void> {
    await trx
      .insertInto('schedule_fires')
      .values({
        fire_id: fireId,
        schedule_id: row.schedule_id,
        scheduled_at: fire.scheduledAt,
        fired_at: nowMs,
        trigger: fire.trigger,
        outcome: fire.outcome,
        reason: fire.reason,
        job_id: fire.jobId,
        actor: fire.actor,
      })
      .execute();
  }

  private async openJob(row: ScheduleRow): Promise<string | null> {
    const open = await this.db
      .selectFrom('jobs')
      .select('job_id')
      .where('schedule_id', '=', row.schedule_id)
      .where('finished_at', 'is', null)
      .limit(1)
      .executeTakeFirst();
    return open?.job_id ?? null;
  }

  /** A schedule runs as the user who made it, as long as that user may still start jobs. */
  private async ownerRefusal(username: string): Promise<string | null> {
    const owner = await this.db
      .selectFrom('users')
      .select(['role', 'disabled_at'])
      .where('username', '=', username)
      .executeTakeFirst();
    if (owner === undefined) return `its owner ${username} was deleted; create the schedule again as another user`;
    if (owner.disabled_at !== null)
      return `its owner ${username} is disabled; create the schedule again as another user`;
    if (owner.role === 'viewer') return `its owner ${username} is now a viewer and may not start jobs`;
    return null;
  }
}

export function timingOf(row: Pick<ScheduleRow, 'cron' | 'timezone' | 'start_at' | 'end_at'>): CronTiming {
  return { cron: row.cron, timezone: row.timezone, startAt: row.start_at, endAt: row.end_at };
}

/** How many cron times fell in [from, to], as text ("at least 1000" past the cap). */
function missedCount(timing: CronTiming, from: number, to: number): string {
  const times = nextFireTimes(
    { ...timing, endAt: timing.endAt === null ? to : Math.min(to, timing.endAt) },
    from,
    MISSED_COUNT_CAP,
  );
  const count = times.length + 1;
  return count > MISSED_COUNT_CAP ? `at least ${MISSED_COUNT_CAP}` : String(count);
}

/** Why a fire could not start its job, when the job itself was the problem (not the database). */
function fireFailure(err: unknown): string | null {
  if (err instanceof MasterError) return err.message;
  if (err instanceof Error && err.name === 'ZodError') return `the saved job is no longer valid: ${err.message}`;
  return null;
}
