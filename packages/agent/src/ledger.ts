import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '@edgestelle/protocol/envelope';
import { epochMsSchema, exitedEventSchema, idSchema, rejectionCodeSchema } from '@edgestelle/protocol';
import { z } from 'zod';
import { AgentError, AgentErrorCode } from './errors.ts';
import { isNotFound } from './fs-errors.ts';
import { writeFileAtomic } from './state-dir.ts';

/**
 * The persisted run ledger: one JSON line per change of a run, the last line of a run wins.
 * It is what makes "a run id is executed at most once per node, ever" hold across restarts: an
 * entry is written and fdatasync'ed before the process is spawned.
 *
 * An entry is kept until no copy of its command could pass the other checks any more: past
 * both its deadline and twice the freshness window after it arrived (a command may be dated up
 * to one window ahead and replayed up to one window late), plus one window of margin. The file
 * is rewritten without superseded lines and expired entries when it has grown to twice its
 * live size.
 */
export const ledgerStates = ['accepted', 'running', 'exited', 'rejected', 'delivered'] as const;
export type LedgerState = (typeof ledgerStates)[number];

/**
 * A run's life on this node. `rejected` after `accepted` is a run that could not start (its
 * deadline passed while it waited, or the spawn failed).
 */
const runTransitions: Readonly<Record<LedgerState, readonly LedgerState[]>> = {
  accepted: ['running', 'exited', 'rejected'],
  running: ['exited'],
  exited: ['delivered'],
  rejected: [],
  delivered: [],
};

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

  /** Records the entry durably before returning. */
  put(entry: LedgerEntry): void {
    this.entries.set(entry.runId, entry);
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fdatasyncSync(this.fd);
    this.lines += 1;
    if (this.lines >= COMPACT_MIN_LINES && this.lines > 2 * this.entries.size) {
      closeSync(this.fd);
      this.compact();
      this.fd = openSync(this.options.path, 'a', 0o600);
    }
  }

  update(runId: string, change: Partial<Omit<LedgerEntry, 'runId'>>): LedgerEntry {
    const entry = this.entries.get(runId);
    if (entry === undefined) throw new Error(`run ${runId} is not in the ledger`);
    if (
      change.state !== undefined &&
      change.state !== entry.state &&
      !runTransitions[entry.state].includes(change.state)
    ) {
      throw new AgentError(
        AgentErrorCode.illegalTransition,
        `run ${runId} cannot go from '${entry.state}' to '${change.state}'`,
      );
    }
    const next = { ...entry, ...change };
    this.put(next);
    return next;
  }

  close(): void {
    closeSync(this.fd);
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
    writeFileAtomic(this.options.path, text, 0o600);
    this.lines = this.entries.size;
  }
}
