import * as z from 'zod';
import { jobCreateSchema, jobStateSchema } from './api.ts';
import { epochMsSchema, idSchema } from './messages.ts';

/** A schedule's name: what the CLI and the console call it, and what its jobs carry. */
export const scheduleNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'use lower-case letters, digits and . _ - (up to 64)');

/**
 * Five fields (minute hour day-of-month month day-of-week), as crontab has them. The master
 * checks each field's values; here only the shape, so the console can say so as one types.
 */
export const cronExpressionSchema = z
  .string()
  .trim()
  .max(200)
  .refine((text) => text.split(/\s+/).length === 5, {
    message: 'give 5 fields: minute hour day-of-month month day-of-week, e.g. "30 2 * * *"',
  });

/** An IANA zone (`Europe/Berlin`, `UTC`) that this runtime knows. */
export const timeZoneSchema = z
  .string()
  .min(1)
  .max(64)
  .refine(isTimeZone, { message: 'not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)' });

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * What a fire does while the schedule's previous job still runs (Kubernetes' concurrencyPolicy):
 * `skip` it, `queue` one (run it when the previous job ends; a further fire meanwhile is
 * skipped), or `allow` both to run.
 */
export const overlapPolicies = ['skip', 'queue', 'allow'] as const;
export const overlapPolicySchema = z.enum(overlapPolicies);
export type OverlapPolicy = z.infer<typeof overlapPolicySchema>;

/** What happens to fires that fell while no master ran: `run_once` (one job for all of them) or `skip`. */
export const missedPolicies = ['run_once', 'skip'] as const;
export const missedPolicySchema = z.enum(missedPolicies);
export type MissedPolicy = z.infer<typeof missedPolicySchema>;

const scheduleFields = {
  description: z.string().max(500).default(''),
  cron: cronExpressionSchema,
  timezone: timeZoneSchema.default('UTC'),
  overlap: overlapPolicySchema.default('skip'),
  missed: missedPolicySchema.default('run_once'),
  /** Each fire waits a further 0..jitterMs (the same for every master), to spread load. */
  jitterMs: z.number().int().min(0).max(3_600_000).default(0),
  /** No fire before this time (epoch ms); null: from now. */
  startAt: epochMsSchema.nullable().default(null),
  /** No fire after this time; null: never ends. */
  endAt: epochMsSchema.nullable().default(null),
};

/** `POST /api/v1/schedules`: a saved job with a cron expression in a time zone. */
export const scheduleCreateSchema = z
  .object({
    name: scheduleNameSchema,
    /** The job each fire creates, as `POST /api/v1/jobs` takes it (secret variables aside). */
    job: jobCreateSchema,
    paused: z.boolean().default(false),
    ...scheduleFields,
  })
  .strict()
  .refine((s) => s.job.secretEnv === undefined, {
    message: 'a schedule cannot hold secret variables (secretEnv); keep them on the nodes',
    path: ['job', 'secretEnv'],
  })
  .refine((s) => s.startAt === null || s.endAt === null || s.startAt < s.endAt, {
    message: 'startAt must come before endAt',
    path: ['endAt'],
  });
export type ScheduleCreate = z.input<typeof scheduleCreateSchema>;

/** How a fire came about. */
export const fireTriggers = ['cron', 'missed', 'queued', 'manual'] as const;
/** What a fire did: started a job, was skipped (overlap, missed), queued behind a running job, or failed to start one. */
export const fireOutcomes = ['started', 'skipped', 'queued', 'failed'] as const;

export const scheduleFireDtoSchema = z.object({
  fireId: idSchema,
  /** The cron time this fire belongs to; for `manual`, when it was asked for. */
  scheduledAt: epochMsSchema,
  firedAt: epochMsSchema,
  trigger: z.enum(fireTriggers),
  outcome: z.enum(fireOutcomes),
  /** Why it was skipped or failed, or how many fires a missed one stood for. */
  reason: z.string().nullable(),
  jobId: idSchema.nullable(),
  /** The job's state now (null without a job, or once retention deleted it). */
  jobState: jobStateSchema.nullable(),
  /** Who asked, for `manual`; `system` otherwise. */
  actor: z.string(),
});
export type ScheduleFireDto = z.infer<typeof scheduleFireDtoSchema>;

export const scheduleDtoSchema = z.object({
  scheduleId: idSchema,
  name: scheduleNameSchema,
  description: z.string(),
  cron: z.string(),
  timezone: z.string(),
  job: jobCreateSchema,
  overlap: overlapPolicySchema,
  missed: missedPolicySchema,
  jitterMs: z.number().int().min(0),
  startAt: epochMsSchema.nullable(),
  endAt: epochMsSchema.nullable(),
  paused: z.boolean(),
  /** The next cron time (jitter not added); null when paused or past endAt. */
  nextFireAt: epochMsSchema.nullable(),
  /** A fire waiting for the running job to end (`overlap: queue`). */
  queuedFireAt: epochMsSchema.nullable(),
  lastFire: scheduleFireDtoSchema.nullable(),
  createdAt: epochMsSchema,
  createdBy: z.string(),
  updatedAt: epochMsSchema,
});
export type ScheduleDto = z.infer<typeof scheduleDtoSchema>;

/** `GET /api/v1/schedules/{name}`: the schedule, its next 5 cron times and its last fires. */
export const scheduleDetailSchema = scheduleDtoSchema.extend({
  nextFireTimes: z.array(epochMsSchema),
  fires: z.array(scheduleFireDtoSchema),
});
export type ScheduleDetail = z.infer<typeof scheduleDetailSchema>;

export const scheduleListSchema = z.object({ items: z.array(scheduleDtoSchema) });

/** `GET /api/v1/schedules/preview`: the next cron times of an expression in a zone (the console's cron helper). */
export const cronPreviewQuerySchema = z
  .object({
    cron: cronExpressionSchema,
    timezone: timeZoneSchema.default('UTC'),
    count: z.coerce.number().int().min(1).max(20).default(5),
  })
  .strict();
export const cronPreviewSchema = z.object({ nextFireTimes: z.array(epochMsSchema) });
export type CronPreview = z.infer<typeof cronPreviewSchema>;

/**
 * A fire time as its schedule's zone reads it, with the zone's UTC offset (`2026-03-29 03:00
 * GMT+2`), so a shift across a DST change shows where it happens. The CLI and the console both
 * show times this way.
 */
export function zonedTime(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'shortOffset',
  }).format(at);
}
