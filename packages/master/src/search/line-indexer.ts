import { terminalRunStates } from '@edgestelle/protocol';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Store } from '../db/store.ts';
import type { MasterEvents } from '../events.ts';
import { isRunComplete } from '../runs/dto.ts';
import { slices } from '../runs/ingest.ts';
import { LineSplitter, parseCarry, serializeCarry } from './line-splitter.ts';

export interface LineIndexerOptions {
  store: Store;
  events: MasterEvents;
  logger: Logger;
  /** How long changes gather before a pass. */
  delayMs?: number;
  /** How often runs are looked for that no event announced (another master stored them). */
  scanIntervalMs?: number;
}

/**
 * Bytes of chunks cut into lines per transaction. better-sqlite3 runs on the event loop, so a
 * batch holds up ingest while it runs: small batches (tens of ms) and a rest after each.
 */
const BATCH_BYTES = 64 * 1024;
/** Rest after a batch, as a multiple of its time: the indexer takes at most a third of the time. */
const REST_FACTOR = 2;
const BATCH_CHUNKS = 256;
const INSERT_SLICE = 200;

class IndexRace extends Error {}

/**
 * Feeds the search index. Lines are cut from a run's stored chunks once they are contiguous
 * (`index_seq` up to the run's `next_seq`), off the ingest path: ingest commits and acks at
 * full speed, the index follows. Each pass over a run is one transaction guarded on the
 * `index_seq` it started from, so two masters never index the same chunk twice. The indexer
 * spends at most about a third of the time busy, leaving the rest to ingest; under a flood of
 * output the index lags and catches up when the flood ends.
 */
export class LineIndexer {
  private readonly dirty = new Set<string>();
  /**
   * Runs whose last pass kept an unfinished line: their end (a `run` event) finishes it. Any
   * other run's state change gives the indexer nothing to do — a 10,000-node job without output
   * made 10,000 empty passes — and output arrives as `chunks`. A carry this master did not see
   * (another master's, or from before a restart) the periodic scan finds.
   */
  private readonly carrying = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private scanTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly onChunks = (runId: string): void => this.mark(runId);
  private readonly onRun = (runId: string): void => {
    if (this.carrying.has(runId)) this.mark(runId);
  };
  /** Lines indexed since start (metrics). */
  linesIndexed = 0;

  constructor(private readonly options: LineIndexerOptions) {
    options.events.on('chunks', this.onChunks);
    options.events.on('run', this.onRun);
    const scanMs = options.scanIntervalMs ?? 60_000;
    if (scanMs > 0) {
      this.scanTimer = setInterval(() => {
        this.scan().catch((err: unknown) => options.logger.warn({ err }, 'looking for runs to index failed'));
      }, scanMs);
      this.scanTimer.unref();
    }
  }

  /** Runs with output not yet indexed (catch-up after a restart, or stored by another master). */
  async scan(): Promise<void> {
    const rows = await this.options.store.db
      .selectFrom('runs')
      .select('run_id')
      .where((eb) =>
        eb.or([
          eb('index_seq', '<', eb.ref('next_seq')),
          eb.and([eb('index_carry', 'is not', null), eb('state', 'in', terminalRunStates)]),
        ]),
      )
      .execute();
    for (const { run_id } of rows) this.mark(run_id);
  }

  private mark(runId: string): void {
    if (this.closed) return;
    this.dirty.add(runId);
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined || this.running !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.work()
        .catch((err: unknown) => this.options.logger.error({ err }, 'indexing output failed'))
        .finally(() => {
          this.running = undefined;
          if (this.dirty.size > 0) this.schedule();
        });
    }, this.options.delayMs ?? 200);
    this.timer.unref();
  }

  /** Indexes everything marked so far (tests, shutdown). */
  async drain(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.work(false);
  }

  private async work(pace = true): Promise<void> {
    while (this.dirty.size > 0 && !this.closed) {
      const runId = this.dirty.values().next().value;
      if (runId === undefined) return;
      this.dirty.delete(runId);
      const started = performance.now();
      let more = false;
      try {
        more = await this.indexRun(runId);
      } catch (err) {
        if (!(err instanceof IndexRace)) throw err;
        // Another master indexed these chunks first; look again for what is left.
        more = true;
      }
      if (more) this.dirty.add(runId);
      if (pace) {
        const restMs = Math.min(500, (performance.now() - started) * REST_FACTOR);
        await new Promise((resolve) => setTimeout(resolve, restMs));
      }
    }
  }

  /** One bounded pass over a run; true if more is left. */
  async indexRun(runId: string): Promise<boolean> {
    // Derived data: its commit need not wait for the disk; a later durable commit covers it.
    return this.options.store.deferredTransaction(async (trx) => {
      const run = await trx
        .selectFrom('runs')
        .select(['run_id', 'state', 'next_seq', 'exited_seq', 'index_seq', 'index_line', 'index_carry'])
        .where('run_id', '=', runId)
        .executeTakeFirst();
      if (run === undefined) {
        this.carrying.delete(runId);
        return false;
      }
      const complete = isRunComplete(run);
      if (run.index_seq >= run.next_seq && !(complete && run.index_carry !== null)) return false;
      // Sizes first, then only the chunks this pass takes: a pass is 64 KiB, and fetching 256
      // chunks of up to 16 KiB to use four of them was most of the indexer's time.
      const sizes = await trx
        .selectFrom('run_chunks')
        .select(['seq', sql<number>`length(data)`.as('bytes')])
        .where('run_id', '=', runId)
        .where('seq', '>=', run.index_seq)
        .where('seq', '<', run.next_seq)
        .orderBy('seq')
        .limit(BATCH_CHUNKS)
        .execute();
      let indexSeq = run.index_seq;
      let bytes = 0;
      for (const chunk of sizes) {
        // Contiguous below next_seq by construction; stop rather than skip if not.
        if (chunk.seq !== indexSeq || bytes >= BATCH_BYTES) break;
        bytes += chunk.bytes;
        indexSeq += 1;
      }
      const chunks =
        indexSeq === run.index_seq
          ? []
          : await trx
              .selectFrom('run_chunks')
              .select(['seq', 'stream', 'data', 'created_at'])
              .where('run_id', '=', runId)
              .where('seq', '>=', run.index_seq)
              .where('seq', '<', indexSeq)
              .orderBy('seq')
              .execute();
      const splitter = new LineSplitter(parseCarry(run.index_carry), run.index_line);
      for (const chunk of chunks) {
        splitter.push({ seq: chunk.seq, stream: chunk.stream, data: chunk.data, createdAt: chunk.created_at });
      }
      const done = indexSeq >= run.next_seq;
      if (done && complete) splitter.finish();
      const { carry, lineNo } = splitter.state();
      for (const part of slices(splitter.lines, INSERT_SLICE)) {
        await trx
          .insertInto('output_lines')
          .values(
            part.map((l) => ({
              run_id: runId,
              seq: l.seq,
              line_no: l.lineNo,
              stream: l.stream,
              line: l.line,
              created_at: l.createdAt,
            })),
          )
          .execute();
      }
      const carried = serializeCarry(carry);
      const moved = await trx
        .updateTable('runs')
        .set({ index_seq: indexSeq, index_line: lineNo, index_carry: carried })
        .where('run_id', '=', runId)
        .where('index_seq', '=', run.index_seq)
        .where('index_line', '=', run.index_line)
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) === 0) throw new IndexRace('another master indexed this run');
      this.linesIndexed += splitter.lines.length;
      if (carried === null) this.carrying.delete(runId);
      else this.carrying.add(runId);
      return !done;
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.scanTimer);
    this.options.events.off('chunks', this.onChunks);
    this.options.events.off('run', this.onRun);
  }
}
