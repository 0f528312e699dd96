import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { postDelivery } from './webhook-sender.ts';
import type { ClaimedDelivery, WebhookQueue } from './webhook-queue.ts';
import type { WebhookSecretBox } from './webhook-secret.ts';

export interface WebhookWorkerOptions {
  queue: WebhookQueue;
  secrets: WebhookSecretBox;
  clock: Clock;
  logger: Logger;
  /** How long one attempt may wait for an answer. */
  attemptTimeoutMs?: number;
  /** Attempts under way at once, per master. */
  maxInFlight?: number;
}

/**
 * Delivers what the queue holds. Each attempt runs on its own; a pass only takes as many due
 * deliveries as there are free slots, so a receiver that hangs holds one slot until its
 * timeout, never the others, and nothing here is on the dispatcher's path.
 */
export class WebhookWorker {
  private readonly inFlight = new Set<Promise<void>>();
  /** Claims under way (the timer's and those woken by a new delivery), awaited at close. */
  private readonly passes = new Set<Promise<number>>();
  private readonly stopping = new AbortController();
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;

  constructor(private readonly options: WebhookWorkerOptions) {
    this.timeoutMs = options.attemptTimeoutMs ?? 10_000;
    this.maxInFlight = options.maxInFlight ?? 16;
  }

  /** Starts the attempts that are due, up to the free slots. Returns how many it started. */
  async pass(): Promise<number> {
    if (this.stopping.signal.aborted) return 0;
    const passing = this.claimAndStart();
    this.passes.add(passing);
    try {
      return await passing;
    } finally {
      this.passes.delete(passing);
    }
  }

  private async claimAndStart(): Promise<number> {
    // A lease outlives the attempt's timeout, so no other master takes it over while it runs.
    const claimed = await this.options.queue.claim(this.maxInFlight - this.inFlight.size, this.timeoutMs + 30_000);
    for (const delivery of claimed) {
      const attempt = this.attempt(delivery).finally(() => this.inFlight.delete(attempt));
      this.inFlight.add(attempt);
    }
    return claimed.length;
  }

  /** Resolves once no attempt is under way (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  /** Aborts the attempts under way (their leases lapse; another master or the next start retries). */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.passes);
    await this.idle();
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const { logger } = this.options;
    try {
      const result = await postDelivery({
        url: delivery.url,
        body: delivery.body,
        secret: this.options.secrets.open(delivery.webhook_id, delivery.secret),
        deliveryId: delivery.delivery_id,
        event: delivery.event,
        timeoutMs: this.timeoutMs,
        signal: this.stopping.signal,
        now: () => this.options.clock.now(),
      });
      if (this.stopping.signal.aborted) return;
      const state = await this.options.queue.record(delivery, result);
      const fields = {
        deliveryId: delivery.delivery_id,
        attempt: delivery.attempt_count,
        status: result.status,
        state,
      };
      if (state === 'delivered') logger.debug(fields, 'webhook delivered');
      else logger.warn({ ...fields, error: result.error }, 'webhook delivery attempt failed');
    } catch (err) {
      // The webhook was deleted meanwhile, or the database failed: the lease lapses and the next pass decides.
      logger.warn({ err, deliveryId: delivery.delivery_id }, 'webhook attempt could not be recorded');
    }
  }
}
