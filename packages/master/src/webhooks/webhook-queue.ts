import { newId, webhookEventSchema, type WebhookEvent } from '@edgestelle/protocol';
import type { Selectable } from 'kysely';
import type { Clock } from '../clock.ts';
import type { WebhookDeliveriesTable } from '../db/schema.ts';
import type { Store } from '../db/store.ts';

/** A delivery this master holds the next attempt of, until `leaseUntil`. */
export type ClaimedDelivery = Selectable<WebhookDeliveriesTable> & { url: string; secret: string };

export interface AttemptResult {
  at: number;
  durationMs: number;
  /** The receiver's status, or null when none came (refused, timed out, aborted). */
  status: number | null;
  error: string | null;
}

/** How long deliveries are retried, from when the event happened. */
export const RETRY_FOR_MS = 24 * 3600_000;

/** Wait before attempt n+1 after n failed: 30 s, doubling, at most an hour. */
export function backoffMs(failedAttempts: number): number {
  return Math.min(30_000 * 2 ** Math.min(failedAttempts - 1, 10), 3600_000);
}

/**
 * The durable delivery queue in the database: one row per webhook and event, its attempts
 * beside it. A master takes the next attempt of a due delivery with a conditional update (a
 * lease); one that dies mid-attempt lets the lease lapse and another takes it over. An
 * attempt's result is stored only while the lease is still that master's.
 */
export class WebhookQueue {
  constructor(
    private readonly options: {
      store: Store;
      clock: Clock;
    },
  ) {}

  private get db() {
    return this.options.store.db;
  }

  /**
   * One delivery per webhook that listens for the event. `eventKey` names the happening (a
   * job, a fire, a node's offline spell): whichever master notices it, each webhook hears of
   * it once. `happenedAt` (default now): only webhooks made by then hear of it. Returns how
   * many deliveries were queued.
   */
  async enqueue(
    event: WebhookEvent,
    eventKey: string | null,
    data: Record<string, unknown>,
    happenedAt?: number,
  ): Promise<number> {
    const nowMs = this.options.clock.now();
    // A webhook hears of what happened after it was made, not of what a catch-up finds from before.
    const hooks = await this.db
      .selectFrom('webhooks')
      .select(['webhook_id', 'events'])
      .where('created_at', '<=', happenedAt ?? nowMs)
      .execute();
    let queued = 0;
    for (const hook of hooks) {
      if (!webhookEventSchema.array().parse(JSON.parse(hook.events)).includes(event)) continue;
      const deliveryId = newId(nowMs);
      const body = JSON.stringify({ id: deliveryId, event, occurredAt: nowMs, data });
      const inserted = await this.db
        .insertInto('webhook_deliveries')
        .values({
          delivery_id: deliveryId,
          webhook_id: hook.webhook_id,
          event,
          event_key: eventKey,
          body,
          state: 'pending',
          created_at: nowMs,
          next_attempt_at: nowMs,
          lease_until: null,
          attempt_count: 0,
        })
        .onConflict((oc) => oc.columns(['webhook_id', 'event_key']).doNothing())
        .executeTakeFirst();
      queued += Number(inserted.numInsertedOrUpdatedRows ?? 0n);
    }
    return queued;
  }

  /** Deletes finished deliveries (and their attempts) older than `keepMs`; pending ones stay. Returns how many. */
  async prune(keepMs: number): Promise<number> {
    const gone = await this.db
      .deleteFrom('webhook_deliveries')
      .where('state', '!=', 'pending')
      .where('created_at', '<', this.options.clock.now() - keepMs)
      .executeTakeFirst();
    return Number(gone.numDeletedRows);
  }

  /** Whether any webhook listens for the event (so a scan for it is worth its query). */
  async anyListens(event: WebhookEvent): Promise<boolean> {
    const hooks = await this.db.selectFrom('webhooks').select('events').execute();
    return hooks.some((hook) => webhookEventSchema.array().parse(JSON.parse(hook.events)).includes(event));
  }

  /** Takes the next attempt of up to `limit` due deliveries for `leaseMs`. */
  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    const nowMs = this.options.clock.now();
    const claimed = await this.db
      .updateTable('webhook_deliveries')
      .set((eb) => ({ lease_until: nowMs + leaseMs, attempt_count: eb('attempt_count', '+', 1) }))
      .where('delivery_id', 'in', (eb) =>
        eb
          .selectFrom('webhook_deliveries')
          .select('delivery_id')
          .where('state', '=', 'pending')
          .where('next_attempt_at', '<=', nowMs)
          .where((w) => w.or([w('lease_until', 'is', null), w('lease_until', '<=', nowMs)]))
          .orderBy('next_attempt_at')
          .limit(limit),
      )
      // Again on the row itself: under PostgreSQL a second master's update re-reads the row
      // the first one leased, finds the lease taken and leaves it.
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', nowMs)
      .where((w) => w.or([w('lease_until', 'is', null), w('lease_until', '<=', nowMs)]))
      .returningAll()
      .execute();
    if (claimed.length === 0) return [];
    const hooks = await this.db
      .selectFrom('webhooks')
      .select(['webhook_id', 'url', 'secret'])
      .where(
        'webhook_id',
        'in',
        claimed.map((c) => c.webhook_id),
      )
      .execute();
    const byId = new Map(hooks.map((hook) => [hook.webhook_id, hook]));
    return claimed.flatMap((c) => {
      const hook = byId.get(c.webhook_id);
      return hook === undefined ? [] : [{ ...c, url: hook.url, secret: hook.secret }];
    });
  }

  /**
   * Stores the attempt and what follows: delivered on a 2xx, else the next attempt after the
   * backoff, or failed once a day has passed. Nothing is stored if the lease passed to
   * another master meanwhile (its attempt counts instead).
   */
  async record(delivery: ClaimedDelivery, result: AttemptResult): Promise<'delivered' | 'pending' | 'failed' | 'lost'> {
    const ok = result.status !== null && result.status >= 200 && result.status < 300;
    const nextAt = result.at + result.durationMs + backoffMs(delivery.attempt_count);
    const state = ok ? 'delivered' : nextAt - delivery.created_at > RETRY_FOR_MS ? 'failed' : 'pending';
    return this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set({ state, next_attempt_at: state === 'pending' ? nextAt : null, lease_until: null })
        .where('delivery_id', '=', delivery.delivery_id)
        .where('attempt_count', '=', delivery.attempt_count)
        .where('state', '=', 'pending')
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return 'lost';
      await trx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: delivery.delivery_id,
          attempt: delivery.attempt_count,
          at: result.at,
          duration_ms: result.durationMs,
          status: result.status,
          error: result.error,
        })
        .execute();
      return state;
    });
  }
}
