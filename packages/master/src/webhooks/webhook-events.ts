import type { WebhookEvent } from '@edgestelle/protocol';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import type { MasterEvents, ScheduleFailure } from '../events.ts';
import type { Dispatcher } from '../runs/dispatcher.ts';
import type { WebhookQueue } from './webhook-queue.ts';

/** Offline spells older than this are history, not news: a master back from a long stop says nothing of them. */
const OFFLINE_NEWS_MS = 3600_000;
/** Jobs that ended this long ago without a job.finished delivery are caught up (a master stopped before it queued one). */
const CATCH_UP_MS = 15 * 60_000;
/** ... but not sooner than this after their end: the master that ended them queues theirs. */
const CATCH_UP_GRACE_MS = 5000;

/**
 * What webhooks hear of, turned into queued deliveries. The master's events come from the one
 * master that made the change (the job's end, a pause, a failed fire); nodes going offline are
 * found by a scan, debounced: a node back within the debounce is no news. Queueing happens off
 * the path that emitted the event, so a slow database write never holds the dispatcher.
 */
export class WebhookEvents {
  private readonly pending = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly options: {
      store: Store;
      events: MasterEvents;
      dispatcher: Dispatcher;
      queue: WebhookQueue;
      clock: Clock;
      logger: Logger;
      /** A node offline this long is reported (node.offline). */
      offlineDebounceMs: number;
      /** A delivery was queued: wake the worker. */
      onQueued: () => void;
    },
  ) {
    const { events } = options;
    events.on('jobFinished', this.onJobFinished);
    events.on('jobPaused', this.onJobPaused);
    events.on('scheduleFailed', this.onScheduleFailed);
  }

  /** Reports nodes offline for longer than the debounce, once per offline spell. Returns how many deliveries it queued. */
  async scanOfflineNodes(): Promise<number> {
    const { queue, clock, offlineDebounceMs } = this.options;
    if (!(await queue.anyListens('node.offline'))) return 0;
    const nowMs = clock.now();
    const nodes = await this.options.store.db
      .selectFrom('nodes')
      .select(['node_id', 'name', 'last_seen_at'])
      .where('online', '=', 0)
      .where('revoked_at', 'is', null)
      .where('last_seen_at', '<=', nowMs - offlineDebounceMs)
      .where('last_seen_at', '>', nowMs - offlineDebounceMs - OFFLINE_NEWS_MS)
      .execute();
    let queued = 0;
    for (const node of nodes) {
      queued += await queue.enqueue('node.offline', `node.offline:${node.node_id}:${node.last_seen_at}`, {
        nodeId: node.node_id,
        name: node.name,
        offlineSince: node.last_seen_at,
      });
    }
    if (queued > 0) this.options.onQueued();
    return queued;
  }

  /**
   * Queues job.finished for jobs that ended lately without one: the master that ended a job
   * queues its delivery after the commit, and a master stopped in between would lose it. The
   * event key makes a second queueing harmless. Returns how many deliveries it queued.
   */
  async catchUpFinishedJobs(): Promise<number> {
    const { queue, clock } = this.options;
    if (!(await queue.anyListens('job.finished'))) return 0;
    const nowMs = clock.now();
    const jobs = await this.options.store.db
      .selectFrom('jobs')
      .select(['job_id', 'finished_at'])
      .where('finished_at', '>=', nowMs - CATCH_UP_MS)
      .where('finished_at', '<=', nowMs - CATCH_UP_GRACE_MS)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('webhook_deliveries')
              .select('delivery_id')
              .where('event_key', '=', sql<string>`'job.finished:' || jobs.job_id`),
          ),
        ),
      )
      .execute();
    let queued = 0;
    for (const { job_id, finished_at } of jobs) {
      const data = { job: await this.jobSummary(job_id) };
      queued += await queue.enqueue('job.finished', `job.finished:${job_id}`, data, finished_at ?? nowMs);
    }
    if (queued > 0) this.options.onQueued();
    return queued;
  }

  /** Stops listening and waits for the queueing under way. */
  async close(): Promise<void> {
    this.closed = true;
    const { events } = this.options;
    events.off('jobFinished', this.onJobFinished);
    events.off('jobPaused', this.onJobPaused);
    events.off('scheduleFailed', this.onScheduleFailed);
    await Promise.all(this.pending);
  }

  private readonly onJobFinished = (jobId: string): void => {
    this.queue('job.finished', `job.finished:${jobId}`, async () => ({ job: await this.jobSummary(jobId) }));
  };

  private readonly onJobPaused = (jobId: string, reason: string): void => {
    // Each pause is its own news (a job may pause at several gates): no key.
    this.queue('job.paused', null, async () => ({ job: await this.jobSummary(jobId), reason }));
  };

  private readonly onScheduleFailed = (failure: ScheduleFailure): void => {
    this.queue('schedule.failed', `schedule.failed:${failure.fireId}`, () =>
      Promise.resolve({
        schedule: failure.name,
        scheduleId: failure.scheduleId,
        scheduledAt: failure.scheduledAt,
        reason: failure.reason,
      }),
    );
  };

  private queue(event: WebhookEvent, key: string | null, data: () => Promise<Record<string, unknown>>): void {
    if (this.closed) return;
    const work = data()
      .then((body) => this.options.queue.enqueue(event, key, body))
      .then((queued) => {
        if (queued > 0) this.options.onQueued();
      })
      .catch((err: unknown) => this.options.logger.error({ err, event, key }, 'queueing a webhook delivery failed'))
      .finally(() => this.pending.delete(work));
    this.pending.add(work);
  }

  /** The job without its spec (a script body can be large, and the receiver has the API for it). */
  private async jobSummary(jobId: string): Promise<Record<string, unknown>> {
    const job = await this.options.dispatcher.job(jobId);
    return {
      jobId: job.jobId,
      state: job.state,
      createdBy: job.createdBy,
      createdAt: job.createdAt,
      finishedAt: job.finishedAt,
      schedule: job.schedule,
      script: job.script,
      nodeCount: job.nodeCount,
      counts: job.counts,
    };
  }
}
