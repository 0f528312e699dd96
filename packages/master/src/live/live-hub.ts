import { describeIssues, liveClientMessageSchema, liveCloseCodes, type LiveServerMessage } from '@edgestelle/protocol';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Store } from '../db/store.ts';
import { MasterError } from '../errors.ts';
import type { MasterEvents, StoredChunk } from '../events.ts';
import type { NodeService } from '../nodes/node-service.ts';
import type { Dispatcher } from '../runs/dispatcher.ts';
import { chunkDto, runDto } from '../runs/dto.ts';

export interface LiveHubOptions {
  store: Store;
  events: MasterEvents;
  dispatcher: Dispatcher;
  nodes: NodeService;
  logger: Logger;
  /** A client whose unsent bytes pass this is closed as too slow (it resumes from its seq). */
  maxBufferedBytes?: number;
  /** How long a replay waits for a client that stopped reading before dropping it. */
  replayStallMs?: number;
}

interface RunCursor {
  nextSeq: number;
  reading: boolean;
  dirty: boolean;
  replayed: boolean;
}

const PAGE = 200;

/**
 * The live hub: node presence, jobs and run output to WebSocket clients. A run subscription
 * replays stored chunks from the asked seq and then follows live, strictly in seq order with
 * no gap and no duplicate: live chunks are taken straight from the ingest's commit when they
 * continue the client's cursor, and read back from the database whenever they do not (a gap,
 * a replay still running, or a chunk another master stored).
 */
export class LiveHub {
  private readonly clients = new Set<LiveClient>();
  /** Clients closed for reading too slowly (4408), since start. */
  slowClientsClosed = 0;
  /** Clients closed because their credentials were revoked (4401), since start. */
  revokedClientsClosed = 0;
  private readonly credentials = new Map<LiveClient, () => Promise<boolean>>();
  readonly runSubs = new Map<string, Set<LiveClient>>();
  readonly jobSubs = new Map<string, Set<LiveClient>>();
  readonly nodeSubs = new Set<LiveClient>();
  private readonly pendingJobs = new Set<string>();
  /** Runs changed since the last flush, by job, for the jobs' watchers. */
  private readonly pendingRuns = new Map<string, Set<string>>();
  private flushTimer: NodeJS.Timeout | undefined;
  readonly maxBufferedBytes: number;
  readonly replayStallMs: number;
  private readonly detach: () => void;

  constructor(readonly options: LiveHubOptions) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.replayStallMs = options.replayStallMs ?? 15_000;
    const onChunks = (runId: string, chunks: readonly StoredChunk[]): void => {
      for (const client of this.runSubs.get(runId) ?? []) client.onChunks(runId, chunks);
    };
    const onRun = (runId: string, jobId: string): void => {
      if (this.jobSubs.has(jobId)) {
        const pending = this.pendingRuns.get(jobId) ?? new Set<string>();
        pending.add(runId);
        this.pendingRuns.set(jobId, pending);
        this.scheduleFlush();
      }
      const watchers = this.runSubs.get(runId);
      if (watchers === undefined) return;
      this.options.dispatcher.run(runId).then(
        (run) => {
          for (const client of watchers) client.send({ type: 'run', run });
          // A terminal run may complete a reader that stopped at a gap: look again.
          for (const client of this.runSubs.get(runId) ?? []) client.poke(runId);
        },
        (err: unknown) => this.options.logger.warn({ err, runId }, 'live: reading a run failed'),
      );
    };
    const onJob = (jobId: string): void => {
      if (!this.jobSubs.has(jobId)) return;
      this.pendingJobs.add(jobId);
      this.scheduleFlush();
    };
    const onNode = (nodeId: string): void => {
      if (this.nodeSubs.size === 0) return;
      this.options.nodes.get(nodeId).then(
        (node) => {
          for (const client of this.nodeSubs) client.send({ type: 'node', node });
        },
        (err: unknown) => this.options.logger.warn({ err, nodeId }, 'live: reading a node failed'),
      );
    };
    options.events.on('chunks', onChunks);
    options.events.on('run', onRun);
    options.events.on('job', onJob);
    options.events.on('node', onNode);
    this.detach = () => {
      options.events.off('chunks', onChunks);
      options.events.off('run', onRun);
      options.events.off('job', onJob);
      options.events.off('node', onNode);
    };
  }

  /**
   * Coalesced every 50 ms: a job on ten thousand nodes changes thousands of times a second, and
   * its watchers need each run's latest state and the job's counts, not every step (one query
   * per 500 changed runs instead of one per change).
   */
  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => this.flushJobs(), 50);
  }

  private flushJobs(): void {
    this.flushTimer = undefined;
    const jobsChanged = new Set(this.pendingJobs);
    const runIds = new Map(this.pendingRuns);
    const jobIds = new Set([...jobsChanged, ...runIds.keys()]);
    this.pendingJobs.clear();
    this.pendingRuns.clear();
    for (const jobId of jobIds) {
      const send = (message: LiveServerMessage): void => {
        for (const client of this.jobSubs.get(jobId) ?? []) client.send(message);
      };
      void (async () => {
        for (const run of await this.options.dispatcher.runsById([...(runIds.get(jobId) ?? [])])) {
          send({ type: 'run', run });
        }
        // Read after its runs, so the counts a watcher gets are never older than the runs it was sent.
        if (jobsChanged.has(jobId)) send({ type: 'job', job: await this.options.dispatcher.job(jobId) });
      })().catch((err: unknown) => this.options.logger.warn({ err, jobId }, 'live: reading a job failed'));
    }
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** `stillAllowed` checks the connection's credentials again (they may be revoked while it is open). */
  attach(socket: WebSocket, stillAllowed?: () => Promise<boolean>): void {
    const client = new LiveClient(this, socket);
    this.clients.add(client);
    if (stillAllowed !== undefined) this.credentials.set(client, stillAllowed);
    socket.on('close', () => {
      this.clients.delete(client);
      this.credentials.delete(client);
      client.dispose();
    });
  }

  /**
   * Closes (4401) every connection whose token or session no longer works: called when this
   * master revokes credentials, and on a timer for revocations made by another master.
   */
  async recheckCredentials(): Promise<void> {
    for (const [client, stillAllowed] of [...this.credentials]) {
      if (await stillAllowed()) continue;
      this.credentials.delete(client);
      this.revokedClientsClosed += 1;
      client.close(liveCloseCodes.unauthenticated, 'your credentials were revoked: sign in again');
    }
  }

  close(): void {
    this.detach();
    clearTimeout(this.flushTimer);
    for (const client of this.clients) client.close(liveCloseCodes.shuttingDown, 'master shutting down');
  }
}

class LiveClient {
  private readonly runs = new Map<string, RunCursor>();
  private readonly jobs = new Set<string>();
  private closed = false;

  constructor(
    private readonly hub: LiveHub,
    private readonly socket: WebSocket,
  ) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) return this.error('invalid_message', 'send JSON text frames');
      let parsed: unknown;
      try {
        const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
        parsed = JSON.parse(bytes.toString('utf8'));
      } catch {
        return this.error('invalid_message', 'not JSON');
      }
      const result = liveClientMessageSchema.safeParse(parsed);
      if (!result.success) return this.error('invalid_message', describeIssues(result.error));
      const message = result.data;
      this.handle(message).catch((err: unknown) => {
        if (err instanceof MasterError) this.error(err.code, err.message);
        else {
          hub.options.logger.error({ err }, 'live: handling a client message failed');
          this.error('internal', 'internal error; the master log has the details');
        }
      });
    });
  }

  private async handle(message: ReturnType<typeof liveClientMessageSchema.parse>): Promise<void> {
    const { hub } = this;
    if (message.type === 'unsubscribe') {
      if (message.topic === 'nodes') hub.nodeSubs.delete(this);
      else if (message.topic === 'job' && message.id !== undefined) this.leave(hub.jobSubs, message.id, this.jobs);
      else if (message.topic === 'run' && message.id !== undefined) {
        this.runs.delete(message.id);
        hub.runSubs.get(message.id)?.delete(this);
      }
      return;
    }
    switch (message.topic) {
      case 'nodes': {
        hub.nodeSubs.add(this);
        for (const node of await hub.options.nodes.list({})) this.send({ type: 'node', node });
        return;
      }
      case 'job': {
        const job = await hub.options.dispatcher.job(message.jobId);
        this.join(hub.jobSubs, message.jobId);
        this.jobs.add(message.jobId);
        this.send({ type: 'job', job });
        const runs = await hub.options.store.db
          .selectFrom('runs')
          .selectAll()
          .where('job_id', '=', message.jobId)
          .orderBy('node_id')
          .execute();
        for (const row of runs) this.send({ type: 'run', run: runDto(row) });
        return;
      }
      case 'run': {
        const run = await hub.options.dispatcher.run(message.runId);
        const cursor: RunCursor = { nextSeq: message.fromSeq, reading: false, dirty: true, replayed: false };
        this.runs.set(message.runId, cursor);
        this.join(hub.runSubs, message.runId);
        this.send({ type: 'run', run });
        await this.drain(message.runId, cursor);
        return;
      }
    }
  }

  private join(index: Map<string, Set<LiveClient>>, key: string): void {
    const set = index.get(key) ?? new Set<LiveClient>();
    set.add(this);
    index.set(key, set);
  }

  private leave(index: Map<string, Set<LiveClient>>, key: string, own: Set<string>): void {
    own.delete(key);
    const set = index.get(key);
    set?.delete(this);
    if (set?.size === 0) index.delete(key);
  }

  /** New committed chunks; none given (another master stored them) means "read them back". */
  onChunks(runId: string, chunks: readonly StoredChunk[]): void {
    const cursor = this.runs.get(runId);
    if (cursor === undefined) return;
    if (chunks.length === 0) return this.poke(runId);
    if (cursor.reading || !cursor.replayed) {
      cursor.dirty = true;
      return;
    }
    for (const chunk of chunks) {
      if (chunk.seq < cursor.nextSeq) continue;
      if (chunk.seq !== cursor.nextSeq) {
        cursor.dirty = true;
        void this.drainSafely(runId, cursor);
        return;
      }
      this.send({
        type: 'chunk',
        chunk: chunkDto({ run_id: runId, seq: chunk.seq, stream: chunk.stream, data: chunk.data }),
      });
      cursor.nextSeq += 1;
    }
  }

  poke(runId: string): void {
    const cursor = this.runs.get(runId);
    if (cursor === undefined) return;
    cursor.dirty = true;
    void this.drainSafely(runId, cursor);
  }

  private drainSafely(runId: string, cursor: RunCursor): Promise<void> {
    return this.drain(runId, cursor).catch((err: unknown) =>
      this.hub.options.logger.warn({ err, runId }, 'live: reading stored chunks failed'),
    );
  }

  /** Sends stored chunks from the cursor until a gap or the end; loops while new ones were announced. */
  private async drain(runId: string, cursor: RunCursor): Promise<void> {
    if (cursor.reading) {
      cursor.dirty = true;
      return;
    }
    cursor.reading = true;
    try {
      while (cursor.dirty && !this.closed && this.runs.get(runId) === cursor) {
        cursor.dirty = false;
        for (;;) {
          const rows = await this.hub.options.store.db
            .selectFrom('run_chunks')
            .select(['run_id', 'seq', 'stream', 'data'])
            .where('run_id', '=', runId)
            .where('seq', '>=', cursor.nextSeq)
            .orderBy('seq')
            .limit(PAGE)
            .execute();
          let gap = false;
          for (const row of rows) {
            if (row.seq !== cursor.nextSeq) {
              gap = true;
              break;
            }
            this.send({ type: 'chunk', chunk: chunkDto(row) }, false);
            cursor.nextSeq += 1;
            // A replay goes at the client's pace; only a client that stops reading is dropped.
            if (this.socket.bufferedAmount > this.hub.maxBufferedBytes / 2 && !(await this.drained())) return;
          }
          if (gap || rows.length < PAGE || this.closed) break;
        }
        if (!cursor.replayed) {
          cursor.replayed = true;
          this.send({ type: 'replayed', runId, nextSeq: cursor.nextSeq });
        }
      }
    } finally {
      cursor.reading = false;
    }
  }

  /** Waits until the client has read most of what was sent; false (and closed) if it stopped reading. */
  private async drained(): Promise<boolean> {
    const deadline = Date.now() + this.hub.replayStallMs;
    while (!this.closed && this.socket.bufferedAmount > this.hub.maxBufferedBytes / 4) {
      if (Date.now() > deadline) {
        this.hub.slowClientsClosed += 1;
        this.close(liveCloseCodes.tooSlow, 'too slow: reconnect and subscribe from the last seq you have');
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return !this.closed;
  }

  /** Live messages cannot wait: past the buffer bound the client is closed (it resumes by seq). */
  send(message: LiveServerMessage, closeIfSlow = true): void {
    if (this.closed) return;
    this.socket.send(JSON.stringify(message));
    if (closeIfSlow && this.socket.bufferedAmount > this.hub.maxBufferedBytes) {
      this.hub.slowClientsClosed += 1;
      this.close(liveCloseCodes.tooSlow, 'too slow: reconnect and subscribe from the last seq you have');
    }
  }

  private error(code: string, message: string): void {
    this.send({ type: 'error', code, message });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close(code, reason);
  }

  dispose(): void {
    this.closed = true;
    this.hub.nodeSubs.delete(this);
    for (const jobId of [...this.jobs]) this.leave(this.hub.jobSubs, jobId, this.jobs);
    for (const runId of this.runs.keys()) {
      const set = this.hub.runSubs.get(runId);
      set?.delete(this);
      if (set?.size === 0) this.hub.runSubs.delete(runId);
    }
    this.runs.clear();
  }
}
