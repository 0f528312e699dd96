import {
  ProtocolErrorCode,
  isProtocolError,
  limits,
  type Command,
  type OutputStream,
  type Topics,
} from '@edgestelle/protocol';
import { openMessage, type OpenedMessage } from '@edgestelle/protocol/envelope';
import type { Selectable, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import type { Database, NodesTable, RunsTable } from '../db/schema.ts';
import type { MasterEvents, StoredChunk } from '../events.ts';
import type { NodeKeys } from '../node-keys.ts';
import { mergeTags, parseTags } from '../nodes/tags.ts';
import { canTransition, isTerminalRunState } from './run-state.ts';
import { runState } from './dto.ts';

export interface IngestOptions {
  store: Store;
  topics: Topics;
  keys: NodeKeys;
  events: MasterEvents;
  clock: Clock;
  logger: Logger;
  sendCommand: (nodeId: string, command: Command) => Promise<void>;
  /** A node's new connection came online: re-send its undelivered runs. */
  onNodeOnline: (nodeId: string) => void;
  /** Runs of these jobs changed state: the dispatcher may start more. */
  onJobsChanged: (jobIds: ReadonlySet<string>) => void;
  /** How long messages gather before one transaction stores them. */
  flushIntervalMs?: number;
  maxBatchMessages?: number;
  maxBatchBytes?: number;
}

interface Incoming {
  topic: string;
  payload: Buffer;
}

type RunRow = Selectable<RunsTable>;
type EvtMessage = Extract<OpenedMessage, { channel: 'evt' }>;
type StateMessage = Extract<OpenedMessage, { channel: 'state' }>;

interface RunWork {
  row: RunRow;
  changed: boolean;
  stateChanged: boolean;
  touched: boolean;
}

/** What one batch's transaction stored, to announce and acknowledge. */
interface Stored {
  nodes: { changed: ReadonlySet<string>; cameOnline: ReadonlySet<string> };
  runs: ReadonlyMap<string, RunWork>;
  chunks: ReadonlyMap<string, StoredChunk[]>;
  /** Node → run → seq: output of runs the database no longer has. */
  goneRuns: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

const INSERT_SLICE = 200;
const SCAN_LIMIT = 1000;

/**
 * Everything agents send, stored in batches: messages gather for a short interval, are opened
 * (envelope, schema), then applied in one transaction — presence, run transitions and output
 * chunks (idempotent on (run_id, seq)). The change is announced after COMMIT; acknowledgements,
 * computed from committed rows, only once the commit is on disk. Nothing an agent sends can
 * crash this: every refusal is counted by reason and logged.
 */
export class Ingest {
  /** Refused messages by reason (protocol error codes and ingest's own). */
  readonly rejects = new Map<string, number>();
  /** Totals since start, for metrics. `acksPending`: messages received and not yet acknowledged. */
  readonly stats = { chunksStored: 0, bytesStored: 0, acksPending: 0 };
  private readonly commitListeners: Array<(seconds: number) => void> = [];
  private buffer: Incoming[] = [];
  private bufferedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private commits: Promise<void> = Promise.resolve();
  private acknowledged: Promise<void> = Promise.resolve();
  private readonly flushIntervalMs: number;
  private readonly maxBatchMessages: number;
  private readonly maxBatchBytes: number;

  constructor(private readonly options: IngestOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 20;
    this.maxBatchMessages = options.maxBatchMessages ?? 2000;
    this.maxBatchBytes = options.maxBatchBytes ?? 16 * 1024 * 1024;
  }

  /** Called with each batch's transaction time (metrics). */
  onCommit(listener: (seconds: number) => void): void {
    this.commitListeners.push(listener);
  }

  /** Takes one MQTT message; resolves at once unless the batch is full, which holds the broker back. */
  async accept(topic: string, payload: Buffer): Promise<void> {
    this.stats.acksPending += 1;
    this.buffer.push({ topic, payload });
    this.bufferedBytes += payload.byteLength;
    if (this.buffer.length >= this.maxBatchMessages || this.bufferedBytes >= this.maxBatchBytes) {
      await this.flush();
    } else {
      this.timer ??= setTimeout(() => {
        this.flush().catch((err: unknown) => this.options.logger.error({ err }, 'ingest flush failed'));
      }, this.flushIntervalMs);
    }
  }

  /** Stores everything received so far; resolves once it is committed, on disk and acknowledged. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    this.bufferedBytes = 0;
    // Transactions run one after another, each announced once committed; a batch's acks wait
    // until its commit is on disk, in batch order, while the next batch's transaction runs.
    const committed = this.commits.then(() => this.commit(batch));
    this.commits = committed.then(
      () => undefined,
      () => undefined,
    );
    // Asked for as soon as the batch is committed, so that batches committed while a sync runs
    // share the next one.
    const onDisk = committed.then(async (stored) => {
      if (stored !== undefined) await this.options.store.durable();
      return stored;
    });
    // `next` awaits it only after earlier batches' acks; a failure before then is not unhandled.
    onDisk.catch(() => undefined);
    const next = this.acknowledged
      .then(async () => {
        const stored = await onDisk;
        if (stored !== undefined) await this.acknowledge(stored);
      })
      .finally(() => {
        this.stats.acksPending -= batch.length;
      });
    // A failed batch must not stop later ones; the caller of this flush sees the failure.
    this.acknowledged = next.catch(() => undefined);
    return next;
  }

  private refuse(m: Incoming, err: unknown): void {
    if (!isProtocolError(err)) throw err;
    this.countReject(err.code);
    this.options.logger.warn(
      { topic: m.topic.slice(0, 200), code: err.code, reason: err.message },
      'refused an MQTT message',
    );
  }

  private countReject(reason: string): void {
    this.rejects.set(reason, (this.rejects.get(reason) ?? 0) + 1);
  }

  /** Opens a batch and applies it in one transaction; undefined when there was nothing to store. */
  private async commit(batch: readonly Incoming[]): Promise<Stored | undefined> {
    if (batch.length === 0) return undefined;
    const { keys, topics, clock } = this.options;
    const nodeIds = new Set<string>();
    for (const m of batch) {
      const nodeId = nodeIdOf(topics, m.topic);
      if (nodeId !== undefined) nodeIds.add(nodeId);
    }
    await keys.ensure(nodeIds);
    const states: StateMessage[] = [];
    const evts: EvtMessage[] = [];
    const nowMs = clock.now();
    const open = (m: Incoming): OpenedMessage =>
      openMessage(topics, m.topic, m.payload, { keyFor: (n, k) => keys.keyFor(n, k), nowMs });
    // A key id this master does not know yet may be a re-enrollment another master made: read
    // those nodes again, once, before refusing.
    const unknownKey: Incoming[] = [];
    const opened: OpenedMessage[] = [];
    for (const m of batch) {
      try {
        opened.push(open(m));
      } catch (err) {
        if (isProtocolError(err) && err.code === ProtocolErrorCode.envelopeUnknownKey) unknownKey.push(m);
        else this.refuse(m, err);
      }
    }
    if (unknownKey.length > 0) {
      await keys.reload([...new Set(unknownKey.flatMap((m) => nodeIdOf(topics, m.topic) ?? []))]);
      for (const m of unknownKey) {
        try {
          opened.push(open(m));
        } catch (err) {
          this.refuse(m, err);
        }
      }
    }
    for (const message of opened) {
      if (message.channel === 'state') states.push(message);
      else if (message.channel === 'evt') evts.push(message);
      else this.countReject('unexpected_channel');
    }

    const started = performance.now();
    const result = await this.options.store.deferredTransaction(async (trx) => {
      await this.lockNodes(trx, nodeIds);
      const nodes = await this.applyStates(trx, states, nowMs);
      const runs = await this.applyEvents(trx, evts, nowMs);
      return { nodes, ...runs };
    });
    const seconds = (performance.now() - started) / 1000;
    for (const listener of this.commitListeners) listener(seconds);
    for (const chunks of result.chunks.values()) {
      this.stats.chunksStored += chunks.length;
      for (const chunk of chunks) this.stats.bytesStored += chunk.data.byteLength;
    }
    this.announce(result);
    return result;
  }

  /**
   * Tells the rest of the master what a batch changed, as soon as it is committed: readers of
   * the database see it from then on, and the live view should not wait for the disk.
   */
  private announce(result: Stored): void {
    const jobsChanged = new Set<string>();
    for (const { row, stateChanged } of result.runs.values()) {
      if (!stateChanged) continue;
      jobsChanged.add(row.job_id);
      this.options.events.emit('run', row.run_id, row.job_id);
    }
    for (const [runId, chunks] of result.chunks) this.options.events.emit('chunks', runId, chunks);
    for (const nodeId of result.nodes.changed) this.options.events.emit('node', nodeId);
    for (const jobId of jobsChanged) this.options.events.emit('job', jobId);
    for (const nodeId of result.nodes.cameOnline) this.options.onNodeOnline(nodeId);
    if (jobsChanged.size > 0) this.options.onJobsChanged(jobsChanged);
  }

  /** Acknowledges what a batch stored; only once it is on disk, for the agent then forgets it. */
  private async acknowledge(result: Stored): Promise<void> {
    const acks = new Map<string, Array<{ runId: string; seq: number }>>();
    for (const { row, touched } of result.runs.values()) {
      if (!touched) continue;
      const seq = row.exited_seq !== null && row.next_seq >= row.exited_seq ? row.exited_seq : row.next_seq - 1;
      if (seq < 0) continue;
      const list = acks.get(row.node_id) ?? [];
      list.push({ runId: row.run_id, seq });
      acks.set(row.node_id, list);
    }
    // Output of a run the database no longer has (retention deleted it): acknowledged, so the
    // agent drops it from its spool instead of re-sending it forever.
    for (const [nodeId, gone] of result.goneRuns) {
      const list = acks.get(nodeId) ?? [];
      for (const [runId, seq] of gone) list.push({ runId, seq });
      acks.set(nodeId, list);
    }
    await Promise.all(
      [...acks].flatMap(([nodeId, runs]) =>
        slices(runs, limits.acksMaxCount).map((part) =>
          this.options.sendCommand(nodeId, { kind: 'ack', runs: part }).catch((err: unknown) => {
            // The agent re-publishes unacknowledged chunks; the next ack covers them.
            this.options.logger.warn({ err, nodeId }, 'sending an ack failed');
          }),
        ),
      ),
    );
  }

  /**
   * Masters sharing one PostgreSQL each read a node's or run's row, change it and write it back:
   * without a row lock the later write would undo the earlier (a stored exit, a chunk count).
   * Locked in one order (nodes, then runs, each sorted) so two masters never deadlock. SQLite
   * has one writer at a time already.
   */
  private async lockNodes(trx: Transaction<Database>, nodeIds: ReadonlySet<string>): Promise<void> {
    if (this.options.store.dialect !== 'postgres') return;
    for (const part of slices([...nodeIds].sort(), 500)) {
      await trx
        .selectFrom('nodes')
        .select('node_id')
        .where('node_id', 'in', part)
        .orderBy('node_id')
        .forUpdate()
        .execute();
    }
  }

  private async applyStates(trx: Transaction<Database>, states: readonly StateMessage[], nowMs: number) {
    const changed = new Set<string>();
    const cameOnline = new Set<string>();
    const rows = new Map<string, Selectable<NodesTable>>();
    for (const { nodeId, message } of states) {
      let row = rows.get(nodeId);
      if (row === undefined) {
        row = await trx.selectFrom('nodes').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
        if (row === undefined) {
          this.countReject('node_unknown');
          continue;
        }
      }
      const first = row.last_seen_at === null;
      const sameConnection = message.connectionSeq === row.connection_seq;
      // Retained state and will can arrive late: the newest (connectionSeq, beat) wins, and an
      // offline state wins over an online one of the same connection.
      const newer =
        first ||
        message.connectionSeq > row.connection_seq ||
        (sameConnection && row.online === 1 && (message.beat > row.beat || !message.online));
      if (!newer) continue;
      if (message.online && (row.online === 0 || !sameConnection || first)) cameOnline.add(nodeId);
      else cameOnline.delete(nodeId);
      const facts = message.facts === undefined ? row.facts : JSON.stringify(message.facts);
      const tags =
        message.facts === undefined
          ? row.tags
          : JSON.stringify(mergeTags(parseTags(row.base_tags), message.facts.tags));
      row = {
        ...row,
        online: message.online ? 1 : 0,
        connection_seq: message.connectionSeq,
        beat: message.beat,
        facts,
        tags,
        last_seen_at: nowMs,
      };
      rows.set(nodeId, row);
      changed.add(nodeId);
    }
    for (const nodeId of changed) {
      const row = rows.get(nodeId);
      if (row === undefined) continue;
      await trx
        .updateTable('nodes')
        .set({
          online: row.online,
          connection_seq: row.connection_seq,
          beat: row.beat,
          facts: row.facts,
          tags: row.tags,
          last_seen_at: row.last_seen_at,
        })
        .where('node_id', '=', nodeId)
        .execute();
    }
    return { changed, cameOnline };
  }

  private async applyEvents(trx: Transaction<Database>, evts: readonly EvtMessage[], nowMs: number) {
    const runs = new Map<string, RunWork>();
    const runIds = [...new Set(evts.flatMap((e) => ('runId' in e.message ? [e.message.runId] : [])))].sort();
    const locking = this.options.store.dialect === 'postgres';
    for (const part of slices(runIds, 500)) {
      const query = trx.selectFrom('runs').selectAll().where('run_id', 'in', part).orderBy('run_id');
      for (const row of await (locking ? query.forUpdate() : query).execute()) {
        runs.set(row.run_id, { row: { ...row }, changed: false, stateChanged: false, touched: false });
      }
    }
    const pending = new Map<string, { runId: string; seq: number; stream: OutputStream; data: Uint8Array }>();
    const seenNodes = new Set<string>();
    const goneRuns = new Map<string, Map<string, number>>();
    for (const { nodeId, message } of evts) {
      seenNodes.add(nodeId);
      if (message.kind === 'pong') continue;
      const work = runs.get(message.runId);
      if (work === undefined && (message.kind === 'output' || message.kind === 'exited')) {
        // Runs are stored before they are sent, so a run that is not there was deleted.
        const gone = goneRuns.get(nodeId) ?? new Map<string, number>();
        gone.set(message.runId, Math.max(gone.get(message.runId) ?? -1, message.seq));
        goneRuns.set(nodeId, gone);
        this.countReject('run_deleted');
        continue;
      }
      if (work === undefined || work.row.node_id !== nodeId) {
        this.countReject('run_unknown');
        this.options.logger.warn(
          { nodeId, runId: message.runId, kind: message.kind },
          'event for a run this node does not have',
        );
        continue;
      }
      const { row } = work;
      const moveTo = (to: ReturnType<typeof runState>): void => {
        if (!canTransition(runState(row.state), to)) return;
        row.state = to;
        work.stateChanged = true;
      };
      work.changed = true;
      switch (message.kind) {
        case 'accepted':
          moveTo('accepted');
          break;
        case 'started':
          row.started_at ??= message.startedAt;
          moveTo('running');
          break;
        case 'output':
          pending.set(`${message.runId}/${message.seq}`, {
            runId: message.runId,
            seq: message.seq,
            stream: message.stream,
            data: message.data,
          });
          if (row.state === 'sent' || row.state === 'accepted') moveTo('running');
          work.touched = true;
          break;
        case 'exited':
          // The first exit the agent reported stands: a second one (an agent that lost its
          // ledger's last lines in a power cut reports the run as interrupted) changes nothing.
          if (row.exited_seq !== null) {
            // Acknowledged as far as what is stored, like any record: never past a missing chunk.
            work.touched = true;
            break;
          }
          row.exited_seq = message.seq;
          row.exit_code = message.exitCode;
          row.signal = message.signal;
          row.started_at ??= message.startedAt;
          row.ended_at = message.endedAt;
          row.output_truncated = message.outputTruncated ? 1 : 0;
          if (!isTerminalRunState(runState(row.state))) row.reason = message.reason ?? null;
          moveTo(message.outcome);
          work.stateChanged = true;
          work.touched = true;
          break;
        case 'rejected':
          // A re-delivered run the agent already has: its own events tell the truth.
          if (message.code === 'duplicate') break;
          if (canTransition(runState(row.state), 'rejected')) {
            row.reason = `${message.code}: ${message.reason}`;
            row.ended_at = nowMs;
          }
          moveTo('rejected');
          break;
      }
    }

    const inserted = new Map<string, StoredChunk[]>();
    for (const part of slices([...pending.values()], INSERT_SLICE)) {
      const rows = await trx
        .insertInto('run_chunks')
        .values(part.map((c) => ({ run_id: c.runId, seq: c.seq, stream: c.stream, data: c.data, created_at: nowMs })))
        .onConflict((oc) => oc.columns(['run_id', 'seq']).doNothing())
        .returning(['run_id', 'seq'])
        .execute();
      for (const { run_id, seq } of rows) {
        const chunk = pending.get(`${run_id}/${seq}`);
        const work = runs.get(run_id);
        if (chunk === undefined || work === undefined) continue;
        work.row.output_bytes += chunk.data.byteLength;
        const list = inserted.get(run_id) ?? [];
        list.push(chunk);
        inserted.set(run_id, list);
      }
    }
    for (const list of inserted.values()) list.sort((a, b) => a.seq - b.seq);

    // Every transaction that stores chunks moves next_seq over what is then committed, holding
    // the run's row (a lock on PostgreSQL, the one writer on SQLite): next_seq can only move
    // where this one stored chunks. (An exit alone, most of a big fan-out, needs no scan.)
    for (const runId of inserted.keys()) {
      const work = runs.get(runId);
      if (work !== undefined) work.row.next_seq = await contiguousEnd(trx, runId, work.row.next_seq);
    }
    for (const work of runs.values()) {
      if (!work.changed) continue;
      const r = work.row;
      await trx
        .updateTable('runs')
        .set({
          state: r.state,
          exit_code: r.exit_code,
          signal: r.signal,
          reason: r.reason,
          started_at: r.started_at,
          ended_at: r.ended_at,
          output_bytes: r.output_bytes,
          output_truncated: r.output_truncated,
          next_seq: r.next_seq,
          exited_seq: r.exited_seq,
          updated_at: nowMs,
        })
        .where('run_id', '=', r.run_id)
        .execute();
    }
    if (seenNodes.size > 0) {
      await trx
        .updateTable('nodes')
        .set({ last_seen_at: nowMs })
        .where('node_id', 'in', [...seenNodes])
        .execute();
    }
    return { runs, chunks: inserted, goneRuns };
  }
}

/** The end of the gap-free prefix of a run's stored chunks, from a known-good start. */
export async function contiguousEnd(trx: Transaction<Database>, runId: string, from: number): Promise<number> {
  let next = from;
  for (;;) {
    const rows = await trx
      .selectFrom('run_chunks')
      .select('seq')
      .where('run_id', '=', runId)
      .where('seq', '>=', next)
      .orderBy('seq')
      .limit(SCAN_LIMIT)
      .execute();
    for (const { seq } of rows) {
      if (seq !== next) return next;
      next += 1;
    }
    if (rows.length < SCAN_LIMIT) return next;
  }
}

function nodeIdOf(topics: Topics, topic: string): string | undefined {
  try {
    return topics.parse(topic).nodeId;
  } catch (err) {
    if (isProtocolError(err)) return undefined;
    throw err;
  }
}

export function slices<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
