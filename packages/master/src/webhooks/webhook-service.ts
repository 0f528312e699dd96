import {
  deliveryStates,
  newId,
  webhookEventSchema,
  type WebhookCreated,
  type WebhookDeliveryDto,
  type WebhookDto,
  type webhookCreateSchema,
} from '@edgestelle/protocol';
import type { Selectable } from 'kysely';
import type { z } from 'zod';
import type { Actor, AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { WebhooksTable } from '../db/schema.ts';
import type { Store } from '../db/store.ts';
import { notFound } from '../errors.ts';
import { WebhookSecretBox } from './webhook-secret.ts';

export type WebhookCreateInput = z.output<typeof webhookCreateSchema>;

const DELIVERIES_SHOWN = 50;
const DAY_MS = 24 * 3600_000;

/** Webhooks (admins): create (the secret shown once), list with the last day's deliveries by state, delete, deliveries. */
export class WebhookService {
  constructor(
    private readonly options: {
      store: Store;
      clock: Clock;
      audit: AuditLog;
      secrets: WebhookSecretBox;
    },
  ) {}

  private get db() {
    return this.options.store.db;
  }

  async create(input: WebhookCreateInput, actor: Actor): Promise<WebhookCreated> {
    const nowMs = this.options.clock.now();
    const webhookId = newId(nowMs);
    const secret = WebhookSecretBox.generate();
    const events = [...new Set(input.events)];
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('webhooks')
        .values({
          webhook_id: webhookId,
          url: input.url,
          events: JSON.stringify(events),
          description: input.description,
          secret: this.options.secrets.seal(webhookId, secret),
          created_at: nowMs,
          created_by: actor.name,
        })
        .execute();
      await this.options.audit.record(trx, {
        actor,
        action: 'webhook.create',
        target: `webhook:${webhookId}`,
        details: { url: input.url, events: events.join(',') },
      });
    });
    return { ...(await this.get(webhookId)), secret };
  }

  async list(): Promise<WebhookDto[]> {
    const rows = await this.db.selectFrom('webhooks').selectAll().orderBy('webhook_id').execute();
    return Promise.all(rows.map((row) => this.dto(row)));
  }

  async get(webhookId: string): Promise<WebhookDto> {
    const row = await this.db.selectFrom('webhooks').selectAll().where('webhook_id', '=', webhookId).executeTakeFirst();
    if (row === undefined) throw notFound(`webhook ${webhookId}`);
    return this.dto(row);
  }

  /** The webhook and its queued and past deliveries go. */
  async delete(webhookId: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('webhooks').where('webhook_id', '=', webhookId).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) throw notFound(`webhook ${webhookId}`);
      await this.options.audit.record(trx, { actor, action: 'webhook.delete', target: `webhook:${webhookId}` });
    });
  }

  /** The newest deliveries, each with every attempt. */
  async deliveries(webhookId: string): Promise<WebhookDeliveryDto[]> {
    await this.get(webhookId);
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .orderBy('delivery_id', 'desc')
      .limit(DELIVERIES_SHOWN)
      .execute();
    const attempts =
      rows.length === 0
        ? []
        : await this.db
            .selectFrom('webhook_attempts')
            .selectAll()
            .where(
              'delivery_id',
              'in',
              rows.map((r) => r.delivery_id),
            )
            .orderBy('attempt')
            .execute();
    return rows.map((row) => ({
      deliveryId: row.delivery_id,
      webhookId: row.webhook_id,
      event: webhookEventSchema.parse(row.event),
      createdAt: row.created_at,
      state: deliveryState(row.state),
      nextAttemptAt: row.next_attempt_at,
      attempts: attempts
        .filter((a) => a.delivery_id === row.delivery_id)
        .map((a) => ({ at: a.at, durationMs: a.duration_ms, status: a.status, error: a.error })),
      body: row.body,
    }));
  }

  private async dto(row: Selectable<WebhooksTable>): Promise<WebhookDto> {
    const counts = await this.db
      .selectFrom('webhook_deliveries')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('webhook_id', '=', row.webhook_id)
      .where('created_at', '>=', this.options.clock.now() - DAY_MS)
      .groupBy('state')
      .execute();
    const recent = { delivered: 0, pending: 0, failed: 0 };
    for (const c of counts) recent[deliveryState(c.state)] = Number(c.n);
    return {
      webhookId: row.webhook_id,
      url: row.url,
      events: webhookEventSchema.array().parse(JSON.parse(row.events)),
      description: row.description,
      createdAt: row.created_at,
      createdBy: row.created_by,
      recent,
    };
  }
}

function deliveryState(state: string): (typeof deliveryStates)[number] {
  const known = deliveryStates.find((s) => s === state);
  if (known === undefined) throw new Error(`unknown delivery state ${state} in the database`);
  return known;
}
