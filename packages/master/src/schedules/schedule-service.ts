import {
  newId,
  type JobDto,
  type ScheduleDetail,
  type ScheduleDto,
  type ScheduleFireDto,
  type scheduleCreateSchema,
} from '@edgestelle/protocol';
import type { Selectable } from 'kysely';
import type { z } from 'zod';
import type { Actor, AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { SchedulesTable } from '../db/schema.ts';
import type { Store } from '../db/store.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import type { ScriptLibrary } from '../scripts/script-library.ts';
import { nextFireAfter, nextFireTimes, parseCron } from './cron-times.ts';
import { fireDto, scheduleDto } from './schedule-dto.ts';
import { timingOf, type ScheduleFiring } from './schedule-firing.ts';

export type ScheduleCreateInput = z.output<typeof scheduleCreateSchema>;

/** Fires shown with a schedule. */
const FIRES_SHOWN = 20;

/** Saved schedules: create, show, pause, resume, fire now, delete; each change audited in its transaction. */
export class ScheduleService {
  constructor(
    private readonly options: {
      store: Store;
      clock: Clock;
      audit: AuditLog;
      scripts: ScriptLibrary;
      firing: ScheduleFiring;
    },
  ) {}

  private get db() {
    return this.options.store.db;
  }

  async create(input: ScheduleCreateInput, actor: Actor): Promise<ScheduleDetail> {
    const nowMs = this.options.clock.now();
    parseCron(input.cron, input.timezone);
    // A script that does not exist (or params it refuses) is the creator's mistake: say so now, not at 3 a.m.
    if (input.job.script !== undefined) {
      await this.options.scripts.resolve(input.job.script, input.job.params ?? {}, input.job.timeoutMs);
    }
    const timing = { cron: input.cron, timezone: input.timezone, startAt: input.startAt, endAt: input.endAt };
    const scheduleId = newId(nowMs);
    await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('schedules')
        .values({
          schedule_id: scheduleId,
          name: input.name,
          description: input.description,
          cron: input.cron,
          timezone: input.timezone,
          job: JSON.stringify(input.job),
          overlap: input.overlap,
          missed: input.missed,
          jitter_ms: input.jitterMs,
          start_at: input.startAt,
          end_at: input.endAt,
          paused: input.paused ? 1 : 0,
          next_fire_at: input.paused ? null : nextFireAfter(timing, nowMs),
          queued_fire_at: null,
          created_at: nowMs,
          created_by: actor.name,
          updated_at: nowMs,
        })
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) {
        throw new MasterError(
          MasterErrorCode.conflict,
          `a schedule named ${input.name} exists: pick another name, or delete that one first`,
          { field: 'name' },
        );
      }
      await this.options.audit.record(trx, {
        actor,
        action: 'schedule.create',
        target: `schedule:${input.name}`,
        details: { cron: input.cron, timezone: input.timezone, overlap: input.overlap, missed: input.missed },
      });
    });
    return this.detail(input.name);
  }

  async list(): Promise<ScheduleDto[]> {
    const rows = await this.db.selectFrom('schedules').selectAll().orderBy('name').execute();
    return Promise.all(rows.map(async (row) => scheduleDto(row, (await this.fires(row.schedule_id, 1))[0] ?? null)));
  }

  async detail(name: string): Promise<ScheduleDetail> {
    const row = await this.row(name);
    const fires = await this.fires(row.schedule_id, FIRES_SHOWN);
    // Paused: the times it would fire if resumed now.
    const from = row.paused === 0 && row.next_fire_at !== null ? row.next_fire_at - 1 : this.options.clock.now();
    return {
      ...scheduleDto(row, fires[0] ?? null),
      nextFireTimes: nextFireTimes(timingOf(row), from, 5),
      fires,
    };
  }

  /** The next cron times of an expression from now (the console's cron helper). */
  preview(cron: string, timezone: string, count: number): number[] {
    return nextFireTimes({ cron, timezone, startAt: null, endAt: null }, this.options.clock.now(), count);
  }

  async pause(name: string, actor: Actor): Promise<ScheduleDetail> {
    return this.setPaused(name, true, actor);
  }

  /** Fires missed while paused were meant to be missed: the next fire is the next cron time from now. */
  async resume(name: string, actor: Actor): Promise<ScheduleDetail> {
    return this.setPaused(name, false, actor);
  }

  /** A job now; its `job.create` audit event names the schedule. */
  async fireNow(name: string, actor: Actor): Promise<JobDto> {
    return this.options.firing.fireNow(await this.row(name), actor);
  }

  /** The schedule and its fire records go; its jobs stay, still naming it. */
  async delete(name: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('schedules').where('name', '=', name).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) throw notFound(`schedule ${name}`);
      await this.options.audit.record(trx, { actor, action: 'schedule.delete', target: `schedule:${name}` });
    });
  }

  private async setPaused(name: string, paused: boolean, actor: Actor): Promise<ScheduleDetail> {
    const nowMs = this.options.clock.now();
    await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('schedules').selectAll().where('name', '=', name).executeTakeFirst();
      if (row === undefined) throw notFound(`schedule ${name}`);
      if ((row.paused !== 0) === paused) return;
      await trx
        .updateTable('schedules')
        .set({
          paused: paused ? 1 : 0,
          next_fire_at: paused ? null : nextFireAfter(timingOf(row), nowMs),
          queued_fire_at: null,
          updated_at: nowMs,
        })
        .where('schedule_id', '=', row.schedule_id)
        .execute();
      await this.options.audit.record(trx, {
        actor,
        action: paused ? 'schedule.pause' : 'schedule.resume',
        target: `schedule:${name}`,
      });
    });
    return this.detail(name);
  }

  private async row(name: string): Promise<Selectable<SchedulesTable>> {
    const row = await this.db.selectFrom('schedules').selectAll().where('name', '=', name).executeTakeFirst();
    if (row === undefined) throw notFound(`schedule ${name}`);
    return row;
  }

  private async fires(scheduleId: string, limit: number): Promise<ScheduleFireDto[]> {
    const rows = await this.db
      .selectFrom('schedule_fires')
      .leftJoin('jobs', 'jobs.job_id', 'schedule_fires.job_id')
      .selectAll('schedule_fires')
      .select('jobs.state as job_state')
      .where('schedule_fires.schedule_id', '=', scheduleId)
      .orderBy('schedule_fires.fire_id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(fireDto);
  }
}
