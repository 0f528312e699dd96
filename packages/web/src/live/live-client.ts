import {
  liveCloseCodes,
  liveServerMessageSchema,
  type ChunkDto,
  type JobDto,
  type LiveClientMessage,
  type LiveServerMessage,
  type NodeDto,
  type RunDto,
} from '@edgestelle/protocol';
import { backoffDelayMs, defaultBackoff, type BackoffOptions } from './backoff.ts';

/** What the client needs of a WebSocket: the browser's, or `ws` in Node tests. */
export interface LiveSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  /** An error is always followed by a close, which is all the client acts on. */
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

function browserSocket(url: string): LiveSocket {
  const ws = new WebSocket(url);
  const socket: LiveSocket = {
    get readyState() {
      return ws.readyState;
    },
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    onopen: null,
    onmessage: null,
    onclose: null,
  };
  ws.onopen = () => socket.onopen?.();
  ws.onmessage = (event) => socket.onmessage?.({ data: event.data });
  ws.onclose = (event) => socket.onclose?.({ code: event.code, reason: event.reason });
  return socket;
}

/** `idle`: nothing subscribed, no socket needed; `closed`: the connection was lost and is being retried. */
export type LiveStatus = 'idle' | 'connecting' | 'open' | 'closed';

export interface RunHandlers {
  onRun?(run: RunDto): void;
  /** Each chunk exactly once, in seq order, across reconnects. */
  onChunk(chunk: ChunkDto): void;
  /** The stored chunks were replayed; live ones follow. */
  onReplayed?(nextSeq: number): void;
}

export interface JobHandlers {
  onJob(job: JobDto): void;
  onRun(run: RunDto): void;
}

export interface LiveClientOptions {
  url: string;
  connect?: (url: string) => LiveSocket;
  backoff?: BackoffOptions;
  random?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
  /** The hub refused our credentials (4401): the session is gone. */
  onUnauthenticated?(): void;
  /**
   * The hub refused this page's Origin (4403): signing in again cannot help; the master's
   * EDGESTELLE_ALLOWED_ORIGINS (or the address the console is opened at) must change.
   */
  onForbiddenOrigin?(): void;
  /** The hub answered a message of ours with an error frame. */
  onServerError?(code: string, message: string): void;
}

const OPEN = 1;
/** Our own close code when the stream skipped a seq: reconnecting resubscribes from the gap. */
const GAP_CLOSE_CODE = 4000;

interface RunSubscription {
  runId: string;
  nextSeq: number;
  handlers: RunHandlers;
}

/**
 * The live hub client: one WebSocket, reconnected with backoff, every subscription restored
 * after a reconnect — runs from the seq after the last chunk delivered, so a consumer sees
 * no gap and no duplicate whatever the network does.
 */
export class LiveClient {
  private socket: LiveSocket | null = null;
  private timer: unknown = null;
  private attempt = 0;
  private stopped = false;
  private currentStatus: LiveStatus = 'idle';
  private readonly statusListeners = new Set<(status: LiveStatus) => void>();
  private readonly nodeListeners = new Set<(node: NodeDto) => void>();
  private readonly jobs = new Map<string, JobHandlers>();
  private readonly runs = new Map<string, RunSubscription>();
  private readonly connect: (url: string) => LiveSocket;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (timer: unknown) => void;

  constructor(private readonly options: LiveClientOptions) {
    this.connect = options.connect ?? browserSocket;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer =
      options.clearTimer ??
      ((timer) => {
        if (typeof timer === 'number') clearTimeout(timer);
      });
  }

  get status(): LiveStatus {
    return this.currentStatus;
  }

  onStatus(listener: (status: LiveStatus) => void): () => void {
    this.statusListeners.add(listener);
    listener(this.currentStatus);
    return () => this.statusListeners.delete(listener);
  }

  /** Every node now, then every change. */
  subscribeNodes(listener: (node: NodeDto) => void): () => void {
    const first = this.nodeListeners.size === 0;
    this.nodeListeners.add(listener);
    if (first) this.send({ type: 'subscribe', topic: 'nodes' });
    this.ensureSocket();
    return () => {
      this.nodeListeners.delete(listener);
      if (this.nodeListeners.size === 0) this.send({ type: 'unsubscribe', topic: 'nodes' });
    };
  }

  subscribeJob(jobId: string, handlers: JobHandlers): () => void {
    this.jobs.set(jobId, handlers);
    this.send({ type: 'subscribe', topic: 'job', jobId });
    this.ensureSocket();
    return () => {
      if (this.jobs.get(jobId) !== handlers) return;
      this.jobs.delete(jobId);
      this.send({ type: 'unsubscribe', topic: 'job', id: jobId });
    };
  }

  /** One consumer per run: a second subscription to the same run replaces the first. */
  subscribeRun(runId: string, fromSeq: number, handlers: RunHandlers): () => void {
    const subscription: RunSubscription = { runId, nextSeq: fromSeq, handlers };
    this.runs.set(runId, subscription);
    this.send({ type: 'subscribe', topic: 'run', runId, fromSeq });
    this.ensureSocket();
    return () => {
      if (this.runs.get(runId) !== subscription) return;
      this.runs.delete(runId);
      this.send({ type: 'unsubscribe', topic: 'run', id: runId });
    };
  }

  close(): void {
    this.stopped = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.socket?.close(1000, 'client closed');
    this.socket = null;
    this.setStatus('idle');
  }

  private hasSubscriptions(): boolean {
    return this.nodeListeners.size > 0 || this.jobs.size > 0 || this.runs.size > 0;
  }

  private ensureSocket(): void {
    if (this.socket !== null || this.timer !== null || this.stopped) return;
    this.open();
  }

  private open(): void {
    this.setStatus('connecting');
    const socket = this.connect(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      this.setStatus('open');
      this.resubscribe();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.receive(event.data);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.closed(event.code);
    };
  }

  private closed(code: number): void {
    if (this.stopped) return;
    // Neither heals by retrying: stop until a new subscription (e.g. after the next login).
    if (code === liveCloseCodes.unauthenticated) {
      this.setStatus('closed');
      this.options.onUnauthenticated?.();
      return;
    }
    if (code === liveCloseCodes.forbiddenOrigin) {
      this.setStatus('closed');
      this.options.onForbiddenOrigin?.();
      return;
    }
    if (!this.hasSubscriptions()) {
      this.setStatus('idle');
      return;
    }
    this.setStatus('closed');
    const delayMs = backoffDelayMs(this.attempt, this.options.backoff ?? defaultBackoff, this.options.random);
    this.attempt += 1;
    this.timer = this.setTimer(() => {
      this.timer = null;
      if (!this.stopped && this.hasSubscriptions()) this.open();
    }, delayMs);
  }

  private resubscribe(): void {
    if (this.nodeListeners.size > 0) this.send({ type: 'subscribe', topic: 'nodes' });
    for (const jobId of this.jobs.keys()) this.send({ type: 'subscribe', topic: 'job', jobId });
    for (const run of this.runs.values()) {
      this.send({ type: 'subscribe', topic: 'run', runId: run.runId, fromSeq: run.nextSeq });
    }
  }

  private send(message: LiveClientMessage): void {
    // Not open yet: `resubscribe` sends every subscription once it is.
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(message));
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch (err) {
      this.options.onServerError?.('bad_frame', err instanceof Error ? err.message : String(err));
      return;
    }
    const parsed = liveServerMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.options.onServerError?.('bad_frame', parsed.error.message);
      return;
    }
    this.dispatch(parsed.data);
  }

  private dispatch(message: LiveServerMessage): void {
    switch (message.type) {
      case 'node':
        for (const listener of this.nodeListeners) listener(message.node);
        return;
      case 'job':
        this.jobs.get(message.job.jobId)?.onJob(message.job);
        return;
      case 'run':
        this.jobs.get(message.run.jobId)?.onRun(message.run);
        this.runs.get(message.run.runId)?.handlers.onRun?.(message.run);
        return;
      case 'chunk':
        this.chunk(message.chunk);
        return;
      case 'replayed':
        this.runs.get(message.runId)?.handlers.onReplayed?.(message.nextSeq);
        return;
      case 'error':
        this.options.onServerError?.(message.code, message.message);
        return;
    }
  }

  private chunk(chunk: ChunkDto): void {
    const subscription = this.runs.get(chunk.runId);
    if (subscription === undefined || chunk.seq < subscription.nextSeq) return;
    if (chunk.seq > subscription.nextSeq) {
      // The hub promises no gaps; if one appears anyway, start over from what we have.
      this.socket?.close(GAP_CLOSE_CODE, 'seq gap');
      return;
    }
    subscription.nextSeq += 1;
    subscription.handlers.onChunk(chunk);
  }

  private setStatus(status: LiveStatus): void {
    if (status === this.currentStatus) return;
    this.currentStatus = status;
    for (const listener of this.statusListeners) listener(status);
  }
}

/** The hub's address for a console served by the master itself. */
export function liveUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/live`;
}
