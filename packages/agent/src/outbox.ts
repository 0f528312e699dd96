import type { Logger } from 'pino';
import type { RunSpool, Spool, SpoolRecord } from './spool.ts';

export interface OutboxOptions {
  spool: Spool;
  /** Seals and publishes one record (QoS 1); resolves on PUBACK. */
  publish: (record: SpoolRecord) => Promise<void>;
  /** Publishes awaiting PUBACK at most (mqtt.js slows to a crawl with thousands queued). */
  windowSize?: number;
  /** Sent but unacknowledged this long without progress: send again from the ack. */
  ackTimeoutMs?: number;
  now?: () => number;
  logger: Logger;
}

interface Cursor {
  /** Next seq to publish. */
  next: number;
  lastProgressAt: number;
}

/**
 * Moves spooled records to the broker through a bounded window, oldest run first. After any
 * reconnect, and whenever the master has not acknowledged sent records for `ackTimeoutMs`
 * (a master that was not subscribed when they went out never will), it starts again from the
 * run's acknowledged seq: the master stores chunks idempotently, so a re-send costs only bytes.
 */
export class Outbox {
  private readonly cursors = new Map<string, Cursor>();
  private online = false;
  private generation = 0;
  private inFlight = 0;
  private readonly windowSize: number;
  private readonly ackTimeoutMs: number;
  private readonly now: () => number;
  private checkTimer: NodeJS.Timeout | undefined;
  published = 0;

  constructor(private readonly options: OutboxOptions) {
    this.windowSize = options.windowSize ?? 64;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  connected(): void {
    this.generation += 1;
    this.online = true;
    this.inFlight = 0;
    this.cursors.clear();
    this.checkTimer ??= setInterval(() => this.resendStalled(), Math.max(100, this.ackTimeoutMs / 2));
    this.checkTimer.unref();
    this.pump();
  }

  disconnected(): void {
    this.generation += 1;
    this.online = false;
    this.inFlight = 0;
    clearInterval(this.checkTimer);
    this.checkTimer = undefined;
  }

  /** New records were spooled. */
  wake(): void {
    this.pump();
  }

  /**
   * The master acknowledged part of a run: room for what follows, and progress only if the ack
   * moved. A master missing a chunk acks the same seq for every later one; counting that as
   * progress kept the gap open until the run ended (found by the fault suite).
   */
  acked(runId: string, advanced: boolean): void {
    const cursor = this.cursors.get(runId);
    if (cursor !== undefined && advanced) cursor.lastProgressAt = this.now();
    this.pump();
  }

  /** Publish a run again from its ack (a re-delivered run command asks for its state). */
  rewind(runId: string): void {
    this.cursors.delete(runId);
    this.pump();
  }

  stop(): void {
    this.disconnected();
  }

  private cursorOf(run: RunSpool): Cursor {
    let cursor = this.cursors.get(run.runId);
    if (cursor === undefined) {
      cursor = { next: run.ackedThrough + 1, lastProgressAt: this.now() };
      this.cursors.set(run.runId, cursor);
    }
    if (cursor.next <= run.ackedThrough) cursor.next = run.ackedThrough + 1;
    return cursor;
  }

  private pump(): void {
    if (!this.online) return;
    const { spool } = this.options;
    for (const run of spool.list()) {
      if (this.inFlight >= this.windowSize) return;
      const cursor = this.cursorOf(run);
      const end = spool.endSeq(run);
      while (cursor.next < end && this.inFlight < this.windowSize) {
        // Sending from a fully acknowledged state starts the ack clock afresh.
        if (cursor.next === run.ackedThrough + 1) cursor.lastProgressAt = this.now();
        const record = spool.read(run, cursor.next);
        cursor.next += 1;
        if (record === undefined) continue;
        this.send(record);
      }
    }
    for (const runId of this.cursors.keys()) {
      if (spool.get(runId) === undefined) this.cursors.delete(runId);
    }
  }

  private send(record: SpoolRecord): void {
    const generation = this.generation;
    this.inFlight += 1;
    this.options.publish(record).then(
      () => {
        if (generation !== this.generation) return;
        this.inFlight -= 1;
        this.published += 1;
        this.pump();
      },
      (err: unknown) => {
        if (generation !== this.generation) return;
        this.inFlight -= 1;
        // Connection trouble: the reconnect sends it again. Anything else: the ack timeout does.
        this.options.logger.debug({ err }, 'publish failed');
      },
    );
  }

  private resendStalled(): void {
    const now = this.now();
    let rewound = false;
    for (const run of this.options.spool.list()) {
      const cursor = this.cursors.get(run.runId);
      if (cursor === undefined || cursor.next <= run.ackedThrough + 1) continue;
      if (now - cursor.lastProgressAt < this.ackTimeoutMs) continue;
      this.options.logger.info(
        { runId: run.runId, from: run.ackedThrough + 1 },
        'no ack for sent output: sending again',
      );
      cursor.next = run.ackedThrough + 1;
      cursor.lastProgressAt = now;
      rewound = true;
    }
    if (rewound) this.pump();
  }
}
