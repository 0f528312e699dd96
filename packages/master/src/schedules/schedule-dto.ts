import {
  jobCreateSchema,
  jobStateSchema,
  missedPolicySchema,
  overlapPolicySchema,
  scheduleFireDtoSchema,
  type ScheduleDto,
  type ScheduleFireDto,
} from '@edgestelle/protocol';
import type { Selectable } from 'kysely';
import type { ScheduleFiresTable, SchedulesTable } from '../db/schema.ts';

/** The job a schedule's row holds, checked again: the row is input like any other. */
export function scheduledJob(row: Pick<Selectable<SchedulesTable>, 'job'>) {
  return jobCreateSchema.parse(JSON.parse(row.job));
}

export function scheduleDto(row: Selectable<SchedulesTable>, lastFire: ScheduleFireDto | null): ScheduleDto {
  return {
    scheduleId: row.schedule_id,
    name: row.name,
    description: row.description,
    cron: row.cron,
    timezone: row.timezone,
    job: scheduledJob(row),
    overlap: overlapPolicySchema.parse(row.overlap),
    missed: missedPolicySchema.parse(row.missed),
    jitterMs: row.jitter_ms,
    startAt: row.start_at,
    endAt: row.end_at,
    paused: row.paused !== 0,
    nextFireAt: row.next_fire_at,
    queuedFireAt: row.queued_fire_at,
    lastFire,
    createdAt: row.created_at,
    createdBy: row.created_by,
    updatedAt: row.updated_at,
  };
}

export function fireDto(row: Selectable<ScheduleFiresTable> & { job_state: string | null }): ScheduleFireDto {
  return scheduleFireDtoSchema.parse({
    fireId: row.fire_id,
    scheduledAt: row.scheduled_at,
    firedAt: row.fired_at,
    trigger: row.trigger,
    outcome: row.outcome,
    reason: row.reason,
    jobId: row.job_id,
    jobState: row.job_state === null ? null : jobStateSchema.parse(row.job_state),
    actor: row.actor,
  });
}
