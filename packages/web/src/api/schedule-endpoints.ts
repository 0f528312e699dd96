import {
  cronPreviewSchema,
  jobDtoSchema,
  scheduleDetailSchema,
  scheduleListSchema,
  webhookCreatedSchema,
  webhookDeliveryListSchema,
  webhookListSchema,
  type ScheduleCreate,
  type WebhookCreate,
} from '@edgestelle/protocol';
import type { HttpClient } from './http.ts';

const enc = encodeURIComponent;

/** Schedules (docs/API.md "Schedules") and webhooks ("Webhooks", admins). */
export function createScheduleApi(http: HttpClient) {
  return {
    listSchedules: () => http.request('GET', '/schedules', scheduleListSchema).then((r) => r.items),
    getSchedule: (name: string) => http.request('GET', `/schedules/${enc(name)}`, scheduleDetailSchema),
    createSchedule: (body: ScheduleCreate) => http.request('POST', '/schedules', scheduleDetailSchema, { body }),
    pauseSchedule: (name: string) => http.request('POST', `/schedules/${enc(name)}/pause`, scheduleDetailSchema),
    resumeSchedule: (name: string) => http.request('POST', `/schedules/${enc(name)}/resume`, scheduleDetailSchema),
    fireSchedule: (name: string) => http.request('POST', `/schedules/${enc(name)}/run`, jobDtoSchema),
    deleteSchedule: (name: string) => http.command('DELETE', `/schedules/${enc(name)}`),
    /** Quiet: the cron helper asks while the operator types; a half-typed expression is no error to pop up. */
    previewCron: (cron: string, timezone: string) =>
      http.request('GET', '/schedules/preview', cronPreviewSchema, { query: { cron, timezone }, quiet: true }),

    listWebhooks: () => http.request('GET', '/webhooks', webhookListSchema).then((r) => r.items),
    createWebhook: (body: WebhookCreate) => http.request('POST', '/webhooks', webhookCreatedSchema, { body }),
    deleteWebhook: (webhookId: string) => http.command('DELETE', `/webhooks/${enc(webhookId)}`),
    listDeliveries: (webhookId: string) =>
      http.request('GET', `/webhooks/${enc(webhookId)}/deliveries`, webhookDeliveryListSchema).then((r) => r.items),
  };
}
