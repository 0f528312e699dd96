import * as z from 'zod';
import { epochMsSchema, idSchema } from './messages.ts';

/** What a webhook may be told of. */
export const webhookEvents = ['job.finished', 'job.paused', 'schedule.failed', 'node.offline'] as const;
export const webhookEventSchema = z.enum(webhookEvents);
export type WebhookEvent = z.infer<typeof webhookEventSchema>;

/** Plain http(s) URLs only: no credentials in them (they would be shown to every admin). */
export const webhookUrlSchema = z
  .string()
  .max(2000)
  .refine(
    (text) => {
      try {
        const url = new URL(text);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
      } catch {
        return false;
      }
    },
    { message: 'give an http:// or https:// URL without user:password in it' },
  );

/** `POST /api/v1/webhooks` (admin). */
export const webhookCreateSchema = z
  .object({
    url: webhookUrlSchema,
    events: z.array(webhookEventSchema).min(1).max(webhookEvents.length),
    description: z.string().max(500).default(''),
  })
  .strict();
export type WebhookCreate = z.input<typeof webhookCreateSchema>;

export const webhookDtoSchema = z.object({
  webhookId: idSchema,
  url: z.string(),
  events: z.array(webhookEventSchema),
  description: z.string(),
  createdAt: epochMsSchema,
  createdBy: z.string(),
  /** Deliveries that reached the receiver / are still being tried / gave up, over the last day. */
  recent: z.object({
    delivered: z.number().int().min(0),
    pending: z.number().int().min(0),
    failed: z.number().int().min(0),
  }),
});
export type WebhookDto = z.infer<typeof webhookDtoSchema>;

/** The answer to create: the signing secret, shown this once. */
export const webhookCreatedSchema = webhookDtoSchema.extend({ secret: z.string() });
export type WebhookCreated = z.infer<typeof webhookCreatedSchema>;

export const webhookListSchema = z.object({ items: z.array(webhookDtoSchema) });

export const deliveryStates = ['pending', 'delivered', 'failed'] as const;

export const webhookAttemptDtoSchema = z.object({
  at: epochMsSchema,
  durationMs: z.number().int().min(0),
  /** The receiver's HTTP status, or null when no answer came (refused, timed out). */
  status: z.number().int().nullable(),
  error: z.string().nullable(),
});

export const webhookDeliveryDtoSchema = z.object({
  deliveryId: idSchema,
  webhookId: idSchema,
  event: webhookEventSchema,
  createdAt: epochMsSchema,
  state: z.enum(deliveryStates),
  /** When the next attempt is due (pending only). */
  nextAttemptAt: epochMsSchema.nullable(),
  attempts: z.array(webhookAttemptDtoSchema),
  /** The JSON body sent (the same at every attempt, so its signature is too). */
  body: z.string(),
});
export type WebhookDeliveryDto = z.infer<typeof webhookDeliveryDtoSchema>;

export const webhookDeliveryListSchema = z.object({ items: z.array(webhookDeliveryDtoSchema) });
