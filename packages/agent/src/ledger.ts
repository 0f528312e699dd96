import { closeSync, fdatasync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '@edgestelle/protocol/envelope';
import { epochMsSchema, exitedEventSchema, idSchema, rejectionCodeSchema } from '@edgestelle/protocol';
import * as z from 'zod';
import { isNotFound } from './fs-errors.ts';
import { ledgerStates, ledgerTransitions } from './run-lifecycle.ts';
import { illegalTransition, isLegalTransition } from './state-machine.ts';
import { writeFileAtomic } from './state-dir.ts';

/**
 * The persisted run ledger: one JSON line per change of a run, the last line of a run wins.
 * It is what makes "a run id is executed at most once per node, ever" hold across restarts: the
 * `accepted` entry is made durable ({@link Ledger.durable}) before the process is spawned.
 *
 * Every entry is written at once, so it survives the agent dying; only those whose loss in a
 * power cut would matter are waited for on disk: `accepted`, one fdatasync a run instead of one
 * per entry (flash storage on edge nodes wears with every one), on libuv's thread pool: a slow
 * SD card stalls the run that waits, not the agent's connection. A later line lost in a power
 * cut leaves the run `accepted` or `running`, and the next start reports it `interrupted`: the
 * spool's synced `exited` still goes out if the master never had it, and a master that has it
 * keeps the first exit.
 *
 * An entry is kept until no copy of its command could pass the other checks any more: past
 * both its deadline and twice the freshness window after it arrived (a command may be dated up
 * to one window ahead and replayed up to one window late), plus one window of margin. The file
 * is rewritten without superseded lines and expired entries when it has grown to twice its
 * live size.
 */

const entrySchema = z
  .object({
    runId: idSchema,
    jobId: idSchema,
    deadlineAt: epochMsSchema,
    receivedAt: epochMsSchema,
    state: z.enum(ledgerStates),
    pid: z.number().int().min(1).optional(),
    startedAt: epochMsSchema.optional(),
    rejection: z.object({ code: rejectionCodeSchema, reason: z.string() }).strict().optional(),
    exited: exitedEventSchema.optional(),
  })
  .strict();
export type LedgerEntry = z.infer<typeof entrySchema>;

export interface LedgerOptions {
  path: string;
  now: () => number;
  maxSkewMs?: number;
  onInvalidLine?: (lineNumber: number) => void;
}

const COMPACT_MIN_LINES = 1000;

export class Ledger {
  private readonly entries = new Map<string, LedgerEntry>();
  private fd: number;
  private lines = 0;
  private readonly maxSkewMs: number;
  /** Entries written, and of those the ones known to be on disk. */
  private written = 0;
  private synced = 0;
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;

  constructor(private readonly options: LedgerOptions) {
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    this.load();
    this.compact();
    this.fd = openSync(options.path, 'a', 0o600);
  }

  get(runId: string): LedgerEntry | undefined {
    return this.entries.get(runId);
  }

  list(): IterableIterator<LedgerEntry> {
    return this.entries.values();
  }

  /** Appends the entry (in the page cache at once; on disk with the next {@link durable}). */
  put(entry: LedgerEntry): void {
    this.entries.set(entry.runId, entry);
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    this.written += 1;
    this.lines += 1;
    this.compactIfDue();
  }

  /**
   * Resolves once every entry put so far is on disk. Callers that arrive while an fdatasync is
   * under way share the next one (group commit); with nothing new to sync it resolves at once.
   */
  durable(): Promise<void> {
    if (this.synced === this.written) return Promise.resolve();
    this.nextSync ??= (async () => {
      await this.syncing?.catch(() => undefined);
      this.nextSync = undefined;
      const upTo = this.written;
      const fd = this.fd;
      this.syncing = new Promise<void>((resolve, reject) =>
        fdatasync(fd, (err) => (err === null ? resolve() : reject(err))),
      );
      try {
        await this.syncing;
        this.synced = Math.max(this.synced, upTo);
      } finally {
        this.syncing = undefined;
        this.compactIfDue();
      }
    })();
    return this.nextSync;
  }

  update(runId: string, change: Partial<Omit<LedgerEntry, 'runId'>>): LedgerEntry {
    const entry = this.entries.get(runId);
    if (entry === undefined) throw new Error(`run ${runId} is not in the ledger`);
    // The run's lifecycle decides which changes are legal (run-lifecycle.ts, projected onto
    // the states a line can hold); writing the same state again is a rewrite, not a change.
    if (
      change.state !== undefined &&
      change.state !== entry.state &&
      !isLegalTransition(ledgerTransitions, entry.state, change.state)
    ) {
      throw illegalTransition(`run ${runId}`, entry.state, change.state);
    }
    const next = { ...entry, ...change };
    this.put(next);
    return next;
  }

  /** Syncs what is not on disk yet and closes the file. */
  close(): void {
    if (this.synced !== this.written) fdatasyncSync(this.fd);
    this.synced = this.written;
    closeSync(this.fd);
  }

  /** Compaction replaces the file and its descriptor, so it waits while an fdatasync holds the old one. */
  private compactIfDue(): void {
    if (this.syncing !== undefined || this.lines < COMPACT_MIN_LINES || this.lines <= 2 * this.entries.size) return;
    closeSync(this.fd);
    this.compact();
    this.fd = openSync(this.options.path, 'a', 0o600);
    // The rewrite was synced before its rename (writeFileAtomic).
    this.synced = this.written;
  }

  private keepUntil(entry: LedgerEntry): number {
    return Math.max(entry.deadlineAt + this.maxSkewMs, entry.receivedAt + 3 * this.maxSkewMs);
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.options.path, 'utf8');
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (line === '') return;
      this.lines += 1;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        // A torn last line from a crash is expected; anything else is reported.
        json = undefined;
      }
      const parsed = entrySchema.safeParse(json);
      if (parsed.success) this.entries.set(parsed.data.runId, parsed.data);
      else this.options.onInvalidLine?.(i + 1);
    });
  }

  /** Rewrites the file with one line per live entry (atomic rename). */
  private compact(): void {
    const now = this.options.now();
    for (const [runId, entry] of this.entries) {
      const finished = entry.state === 'delivered' || entry.state === 'rejected';
      if (finished && this.keepUntil(entry) < now) this.entries.delete(runId);
    }
    const text = [...this.entries.values()].map((entry) => `${JSON.stringify(entry)}\n`).join('');
    writeFileAtomic(this.options.path, text);
    this.lines = this.entries.size;
  }
}
