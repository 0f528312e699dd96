import {
  isTerminalRunState,
  jobDtoSchema,
  outputPageSchema,
  runDtoSchema,
  type ChunkDto,
  type JobDto,
  type LiveClientMessage,
  type LiveServerMessage,
  type RunDto,
} from '@edgestelle/protocol';
import { z } from 'zod';
import type { ApiClient } from './api-client.ts';
import { CliError, CliErrorCode } from './cli-error.ts';
import { LiveSession } from './live-session.ts';

export interface WatchEvents {
  /** A chunk of a run's output, each seq exactly once and in order. */
  onChunk(run: RunDto, chunk: ChunkDto, bytes: Buffer): void;
  /** A run changed state (also called once for each run when first seen). */
  onRun(run: RunDto): void;
  /** A terminal run whose output has all been delivered through onChunk. */
  onRunDone(run: RunDto, outputComplete: boolean): void;
  onJob?(job: JobDto): void;
  /** The live hub connection dropped; following resumes from where it was. */
  onReconnecting?(reason: string): void;
}

export type WatchScope = { jobId: string } | { runId: string };

export interface WatchResult {
  job: JobDto | null;
  runs: RunDto[];
}

interface RunTrack {
  run: RunDto;
  nextSeq: number;
  finishing: boolean;
  done: boolean;
}

const runsListSchema = z.object({ items: z.array(runDtoSchema) });
/** How long a terminal run may take to have all its chunks stored before we stop waiting. */
const COMPLETION_WAIT_MS = 60_000;
const COMPLETION_POLL_MS = 200;
/** A slow REST look at the job, in case a live update is lost between master and CLI. */
const SAFETY_POLL_MS = 5_000;

/** The master is briefly away (restarting, or behind a load balancer swapping instances). */
function isTransient(err: unknown): boolean {
  return err instanceof CliError && (err.code === CliErrorCode.unreachable || err.code === CliErrorCode.unavailable);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows a job (or one run) until it ends: live over the hub, with each run's output
 * delivered exactly once and in seq order. A run counts as done only when it is terminal and
 * every chunk is delivered; anything the live stream missed is read back over REST.
 */
export class JobWatcher {
  private readonly runs = new Map<string, RunTrack>();
  private job: JobDto | null = null;
  private session: LiveSession | null = null;
  private send: ((message: LiveClientMessage) => void) | null = null;
  private settle: { resolve: (result: WatchResult) => void; reject: (err: unknown) => void } | null = null;
  private safetyTimer: NodeJS.Timeout | null = null;
  private checking = false;
  private stopped = false;

  constructor(
    private readonly api: ApiClient,
    private readonly token: string,
    private readonly scope: WatchScope,
    private readonly events: WatchEvents,
  ) {}

  async watch(): Promise<WatchResult> {
    const result = new Promise<WatchResult>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.session = new LiveSession({
      baseUrl: this.api.baseUrl,
      token: this.token,
      onOpen: (send) => this.subscribeAll(send),
      onMessage: (message) => this.onMessage(message),
      onFatal: (err) => this.fail(err),
      onReconnecting: (reason) => this.events.onReconnecting?.(reason),
    });
    await this.session.start();
    this.safetyTimer = setInterval(() => void this.safetyPoll(), SAFETY_POLL_MS);
    return result;
  }

  /** Stop following (detach); the job keeps running on the master. */
  stop(): void {
    this.stopped = true;
    if (this.safetyTimer !== null) clearInterval(this.safetyTimer);
    this.session?.close();
  }

  private subscribeAll(send: (message: LiveClientMessage) => void): void {
    this.send = send;
    if ('jobId' in this.scope) send({ type: 'subscribe', topic: 'job', jobId: this.scope.jobId });
    for (const [runId, track] of this.runs) {
      if (!track.done) send({ type: 'subscribe', topic: 'run', runId, fromSeq: track.nextSeq });
    }
    if ('runId' in this.scope && !this.runs.has(this.scope.runId)) {
      send({ type: 'subscribe', topic: 'run', runId: this.scope.runId, fromSeq: 0 });
    }
  }

  private onMessage(message: LiveServerMessage): void {
    switch (message.type) {
      case 'job':
        this.job = message.job;
        this.events.onJob?.(message.job);
        void this.checkDone();
        return;
      case 'run':
        this.onRunUpdate(message.run);
        return;
      case 'chunk':
        this.deliver(message.chunk);
        return;
      case 'replayed':
      case 'node':
        return;
      case 'error':
        this.fail(new CliError(CliErrorCode.badResponse, `the live hub refused a request: ${message.message}`));
        return;
    }
  }

  private onRunUpdate(run: RunDto): void {
    if ('jobId' in this.scope ? run.jobId !== this.scope.jobId : run.runId !== this.scope.runId) return;
    let track = this.runs.get(run.runId);
    if (track === undefined) {
      track = { run, nextSeq: 0, finishing: false, done: false };
      this.runs.set(run.runId, track);
      // The job subscription brings runs, not their output: subscribe to each run's chunks.
      if ('jobId' in this.scope) this.send?.({ type: 'subscribe', topic: 'run', runId: run.runId, fromSeq: 0 });
      this.events.onRun(run);
    } else if (track.run.state !== run.state || track.run.complete !== run.complete) {
      track.run = run;
      this.events.onRun(run);
    } else {
      track.run = run;
    }
    if (isTerminalRunState(run.state) && !track.finishing) {
      track.finishing = true;
      void this.finish(track).catch((err: unknown) => this.fail(err));
    }
  }

  private deliver(chunk: ChunkDto): void {
    const track = this.runs.get(chunk.runId);
    // Anything but the next seq is a repeat (after a resubscribe) or ahead of a gap that
    // finish() fills from REST; either way it must not be shown out of order.
    if (track === undefined || track.done || chunk.seq !== track.nextSeq) return;
    track.nextSeq += 1;
    this.events.onChunk(track.run, chunk, Buffer.from(chunk.data, 'base64'));
  }

  private async finish(track: RunTrack): Promise<void> {
    const giveUpAt = Date.now() + COMPLETION_WAIT_MS;
    let complete = false;
    while (!this.stopped) {
      if (track.run.complete && track.nextSeq >= track.run.chunkCount) {
        complete = true;
        break;
      }
      const page = await this.api
        .get(`/api/v1/runs/${track.run.runId}/output`, outputPageSchema, { fromSeq: track.nextSeq, limit: 1000 })
        .catch((err: unknown) => {
          if (isTransient(err) && Date.now() < giveUpAt) return null;
          throw err;
        });
      if (page !== null) {
        for (const chunk of page.chunks) this.deliver(chunk);
        if (page.complete && track.nextSeq >= page.nextSeq) {
          complete = true;
          break;
        }
      }
      if (page === null || page.chunks.length === 0) {
        if (Date.now() > giveUpAt) break;
        await sleep(COMPLETION_POLL_MS);
      }
    }
    if (this.stopped) return;
    track.done = true;
    this.send?.({ type: 'unsubscribe', topic: 'run', id: track.run.runId });
    this.events.onRunDone(track.run, complete);
    await this.checkDone();
  }

  private async checkDone(): Promise<void> {
    if (this.stopped || this.checking) return;
    const tracks = [...this.runs.values()];
    if (tracks.length === 0 || tracks.some((track) => !track.done)) return;
    if ('jobId' in this.scope) {
      const job = this.job;
      if (job === null) return;
      if (isActive(job) && tracks.length < job.nodeCount) return;
    }
    this.checking = true;
    try {
      const result = await this.fetchState().catch((err: unknown) => {
        // Not done yet as far as we can tell; the next update or safety poll asks again.
        if (isTransient(err)) return null;
        throw err;
      });
      if (result === null) return;
      // A run the live stream has not shown yet (a rollout starting more nodes): keep following.
      const unseen = result.runs.filter((run) => this.runs.get(run.runId)?.done !== true);
      if (
        unseen.length > 0 ||
        (result.job !== null && isActive(result.job) && result.runs.length < result.job.nodeCount)
      ) {
        for (const run of unseen) this.onRunUpdate(run);
        return;
      }
      this.stop();
      this.settle?.resolve(result);
    } catch (err) {
      this.fail(err);
    } finally {
      this.checking = false;
    }
  }

  /** The authoritative end state, from REST. */
  private async fetchState(): Promise<WatchResult> {
    if ('runId' in this.scope) {
      const run = await this.api.get(`/api/v1/runs/${this.scope.runId}`, runDtoSchema);
      return { job: null, runs: [run] };
    }
    const [job, runs] = await Promise.all([
      this.api.get(`/api/v1/jobs/${this.scope.jobId}`, jobDtoSchema),
      this.api.get(`/api/v1/jobs/${this.scope.jobId}/runs`, runsListSchema),
    ]);
    return { job, runs: runs.items };
  }

  private async safetyPoll(): Promise<void> {
    try {
      const state = await this.fetchState();
      if (this.stopped) return;
      if (state.job !== null && this.job === null) this.job = state.job;
      for (const run of state.runs) this.onRunUpdate(run);
      await this.checkDone();
    } catch (err) {
      // A master restarting is not the end of the job: the live session's reconnects decide
      // when the master counts as gone.
      if (!isTransient(err)) this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.stop();
    this.settle?.reject(err);
  }
}

/** Running, or paused and so still to go on: its runs may not all exist yet for the live stream. */
function isActive(job: JobDto): boolean {
  return job.state === 'running' || job.state === 'paused';
}
