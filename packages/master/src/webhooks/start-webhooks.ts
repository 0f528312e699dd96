import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import type { MasterEvents } from '../events.ts';
import { startPeriodicTask } from '../periodic-task.ts';
import type { Dispatcher } from '../runs/dispatcher.ts';
import type { ShutdownSteps } from '../shutdown-steps.ts';
import { WebhookEvents } from './webhook-events.ts';
import { WebhookQueue } from './webhook-queue.ts';
import { WebhookSecretBox } from './webhook-secret.ts';
import { WebhookService } from './webhook-service.ts';
import { WebhookWorker } from './webhook-worker.ts';

const DELIVERIES_KEPT_MS = 7 * 24 * 3600_000;

export interface WebhookTimings {
  /** How often due deliveries are looked for (ms); 0: no timer (tests call deliver()). */
  passMs?: number;
  attemptTimeoutMs?: number;
  /** A node offline this long is reported (default one minute). */
  offlineDebounceMs?: number;
  /** How often offline nodes and jobs that ended without their delivery are looked for (ms); 0: no timer. */
  offlineScanMs?: number;
}

export interface Webhooks {
  service: WebhookService;
  /** Starts the due attempts now (the timer does so every second) and waits for them (tests). */
  deliver(): Promise<number>;
  scanOfflineNodes(): Promise<number>;
  catchUpFinishedJobs(): Promise<number>;
  /** Deletes finished deliveries older than a week (the timer does so hourly). */
  prune(): Promise<number>;
}

/** Webhooks: the admin's service, the events they hear of, the delivery worker and its timers. */
export function startWebhooks(options: {
  store: Store;
  events: MasterEvents;
  dispatcher: Dispatcher;
  clock: Clock;
  audit: AuditLog;
  masterSecret: Uint8Array;
  logger: Logger;
  timings: WebhookTimings;
  shutdown: Pick<ShutdownSteps, 'add'>;
}): Webhooks {
  const { store, clock, logger, timings, shutdown } = options;
  const secrets = new WebhookSecretBox(options.masterSecret);
  const queue = new WebhookQueue({ store, clock });
  const worker = new WebhookWorker({
    queue,
    secrets,
    clock,
    logger,
    ...(timings.attemptTimeoutMs === undefined ? {} : { attemptTimeoutMs: timings.attemptTimeoutMs }),
  });
  const passMs = timings.passMs ?? 1000;
  const wake = (): void => {
    if (passMs > 0) worker.pass().catch((err: unknown) => logger.error({ err }, 'webhook delivery pass failed'));
  };
  const events = new WebhookEvents({
    store,
    events: options.events,
    dispatcher: options.dispatcher,
    queue,
    clock,
    logger,
    offlineDebounceMs: timings.offlineDebounceMs ?? 60_000,
    onQueued: wake,
  });
  shutdown.add('webhook events', () => events.close());
  shutdown.add('webhook deliveries', () => worker.close());
  startPeriodicTask({ name: 'webhook delivery pass', intervalMs: passMs, work: () => worker.pass(), logger, shutdown });
  startPeriodicTask({
    name: 'webhook event scan',
    intervalMs: timings.offlineScanMs ?? 10_000,
    work: async () => {
      await events.scanOfflineNodes();
      await events.catchUpFinishedJobs();
    },
    logger,
    shutdown,
  });
  // Deliveries are kept a week for `webhooks deliveries`; their attempts go with them.
  startPeriodicTask({
    name: 'webhook delivery pruning',
    intervalMs: passMs > 0 ? 3600_000 : 0,
    work: () => queue.prune(DELIVERIES_KEPT_MS),
    logger,
    shutdown,
  });
  return {
    service: new WebhookService({ store, clock, audit: options.audit, secrets }),
    async deliver() {
      const started = await worker.pass();
      await worker.idle();
      return started;
    },
    scanOfflineNodes: () => events.scanOfflineNodes(),
    catchUpFinishedJobs: () => events.catchUpFinishedJobs(),
    prune: () => queue.prune(DELIVERIES_KEPT_MS),
  };
}
