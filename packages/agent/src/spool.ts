import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
  type Dirent,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ID_PATTERN, exitedEventSchema, type ExitedEvent, type OutputStream } from '@edgestelle/protocol';
import { errnoCode } from './fs-errors.ts';

/**
 * The on-disk output spool: everything a run printed, and its `exited`, kept until the master
 * acknowledges it. Segment files named by run and first seq (`<runId>.0000000000.seg`), all in
 * the spool folder; a segment is deleted as soon as every record in it is acknowledged, so a
 * long run whose output the master keeps up with uses little disk. Earlier agents kept a
 * folder per run (`<runId>/0000000000.seg`): a mkdir, and an rmdir with its lstat and readdir,
 * for every run, a third of the file work of a run that prints nothing. Such folders are still
 * read back, and removed with their run.
 *
 * Record framing: `length u32 | crc32(body) u32 | body`, body = `type u8 | seq u32 | …`,
 * type 1 = output chunk (`stream u8 | bytes`), type 2 = exited (JSON). Reading back stops at the
 * first record that is short, too long or fails its CRC — a write torn by a crash or power
 * loss — and cuts the file there; a run cut before its `exited` keeps where its loss begins
 * ({@link RunSpool.lost}) so that the agent can say so. Segments are opened without following
 * symlinks; an entry named like a segment that is not a regular file is never opened: it is
 * renamed out of the way (`<name>.<hex>.unusable`) and the run is cut where it stood.
 *
 * fsync policy: records are written with plain write(2), which a killed agent cannot lose (the
 * kernel holds them); the data is fdatasync'ed by {@link Spool.syncDirty} (on the thread pool),
 * which the agent calls at once after an `exited` and once a second while anything is dirty,
 * and on close. Power loss can therefore lose up to about a second of output that was not yet
 * acknowledged; the torn tail is detected and cut, and the run is reported with what survived.
 */
const HEADER_BYTES = 8;
const BODY_PREFIX_BYTES = 5;
const TYPE_CHUNK = 1;
const TYPE_EXITED = 2;
const streamCodes: Record<OutputStream, number> = { stdout: 0, stderr: 1, system: 2 };
const streamsByCode: readonly OutputStream[] = ['stdout', 'stderr', 'system'];
const SEGMENT_NAME = /^(?:([0-9a-z]{26})\.)?(\d{10})\.seg$/;
const MAX_RECORD_BODY_BYTES = 1024 * 1024;

interface Segment {
  readonly firstSeq: number;
  readonly path: string;
  fd: number;
  bytes: number;
  lastSeq: number;
  dirty: boolean;
}

interface IndexEntry {
  readonly seq: number;
  readonly segment: Segment;
  /** Offset of the body's first byte after the type and seq. */
  readonly offset: number;
  readonly length: number;
  readonly type: typeof TYPE_CHUNK | typeof TYPE_EXITED;
  readonly stream: OutputStream;
}

export type SpoolRecord =
  | { kind: 'output'; runId: string; seq: number; stream: OutputStream; data: Buffer<ArrayBuffer> }
  | { kind: 'exited'; event: ExitedEvent };

export type AppendResult = 'written' | 'cut' | 'dropped';

export interface RunSpool {
  readonly runId: string;
  /** The run's own folder, for a run an older agent spooled; its segments are there. */
  readonly legacyFolder: string | undefined;
  readonly segments: Segment[];
  readonly index: IndexEntry[];
  /** Output chunks so far: the next chunk's seq. */
  chunkCount: number;
  exited: ExitedEvent | undefined;
  /** Highest seq the master acknowledged; -1 for none. */
  ackedThrough: number;
  truncated: boolean;
  /** Bytes the run's process wrote, including any cut after the cap. */
  outputBytes: number;
  /**
   * Recovery could not read the run back from this seq on (a torn or garbage record, an entry
   * that is not a regular file), and the run's `exited` went with it.
   */
  lost: RunLoss | undefined;
}

export interface RunLoss {
  readonly fromSeq: number;
  /** Why, for the run's output: `CRC mismatch`, `a directory`, … */
  readonly reason: string;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** A new segment starts past this size. */
  segmentMaxBytes?: number;
  /** Told about every torn or invalid tail recovery cut and every entry it set aside, for the log. */
  onCut?: (runId: string, detail: string) => void;
}

export function truncationMarker(maxBytes: number): Buffer {
  return Buffer.from(
    `\r\n[edgestelle] output cut here: the agent's spool is full (EDGESTELLE_SPOOL_MAX_BYTES=${maxBytes}); the rest of this run's output was dropped\r\n`,
  );
}

/** The `system` chunk that stands where a run's output could not be read back. */
export function lossMarker(fromSeq: number, toSeq: number | undefined, reason: string): Buffer {
  const range = toSeq === undefined ? `from seq ${fromSeq} on` : `seq ${fromSeq}–${toSeq}`;
  return Buffer.from(
    `\r\n[edgestelle] output lost here: this run's output ${range} could not be read back from the agent's spool after a restart (${reason})\r\n`,
  );
}

/** The read-write open of an existing segment: a symlink in its place fails (ELOOP) instead of being followed. */
const OPEN_EXISTING = constants.O_RDWR | constants.O_NOFOLLOW;
/** A new segment: created, never an existing file, never through a symlink. */
const OPEN_NEW = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

interface FoundEntry {
  readonly name: string;
  readonly firstSeq: number;
  /** Set when the entry is not a regular file: what it was (it has been set aside). */
  readonly unusable: string | undefined;
}

export class Spool {
  private readonly runs = new Map<string, RunSpool>();
  private totalBytes = 0;
  private readonly segmentMaxBytes: number;

  constructor(private readonly options: SpoolOptions) {
    this.segmentMaxBytes = options.segmentMaxBytes ?? 4 * 1024 * 1024;
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.recover();
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  /** Runs with anything unacknowledged, oldest first. */
  list(): IterableIterator<RunSpool> {
    return this.runs.values();
  }

  get(runId: string): RunSpool | undefined {
    return this.runs.get(runId);
  }

  /** The seq after the last record written so far (chunks, then `exited`). */
  endSeq(run: RunSpool): number {
    return run.chunkCount + (run.exited === undefined ? 0 : 1);
  }

  createRun(runId: string): RunSpool {
    return this.runs.get(runId) ?? this.addRun(runId, undefined);
  }

  private addRun(runId: string, legacyFolder: string | undefined): RunSpool {
    const run: RunSpool = {
      runId,
      legacyFolder,
      segments: [],
      index: [],
      chunkCount: 0,
      exited: undefined,
      ackedThrough: -1,
      truncated: false,
      outputBytes: 0,
      lost: undefined,
    };
    this.runs.set(runId, run);
    return run;
  }

  /**
   * Appends one chunk. Past the cap the run gets one `system` marker chunk and is flagged;
   * later output is counted but dropped.
   */
  appendChunk(run: RunSpool, stream: OutputStream, data: Uint8Array): AppendResult {
    if (run.exited !== undefined) throw new Error(`run ${run.runId} has exited: no more output`);
    if (stream !== 'system') run.outputBytes += data.byteLength;
    if (run.truncated) return 'dropped';
    const recordBytes = HEADER_BYTES + BODY_PREFIX_BYTES + 1 + data.byteLength;
    if (this.totalBytes + recordBytes > this.options.maxBytes) {
      run.truncated = true;
      this.writeChunk(run, 'system', truncationMarker(this.options.maxBytes));
      return 'cut';
    }
    this.writeChunk(run, stream, data);
    return 'written';
  }

  /**
   * After a recovery that lost the run's tail: one `system` chunk naming the lost seqs (up to
   * `knownChunkCount - 1` when the ledger's exit says how many there were), and the run is
   * flagged as cut. Nothing when no output was lost, only the `exited` record.
   */
  appendLossMarker(run: RunSpool, knownChunkCount: number | undefined): void {
    const { lost } = run;
    if (lost === undefined) return;
    run.lost = undefined;
    if (knownChunkCount !== undefined && knownChunkCount <= lost.fromSeq) return;
    const toSeq = knownChunkCount === undefined ? undefined : knownChunkCount - 1;
    this.writeChunk(run, 'system', lossMarker(lost.fromSeq, toSeq, lost.reason));
    run.truncated = true;
  }

  /**
   * Writes the run's `exited` (its seq is the chunk count); the caller syncs it (syncDirty). A
   * synchronous fdatasync here held the event loop for every exit: an agent process of 2,000
   * simulated nodes spent 38 % of a fan-out in it, one node after another.
   */
  appendExited(
    run: RunSpool,
    exited: Omit<ExitedEvent, 'kind' | 'runId' | 'seq' | 'outputBytes' | 'outputTruncated'>,
  ): ExitedEvent {
    if (run.exited !== undefined) return run.exited;
    // What the spool holds wins over what is given (an exit re-written from the ledger's line).
    const event: ExitedEvent = {
      ...exited,
      kind: 'exited',
      runId: run.runId,
      seq: run.chunkCount,
      outputBytes: run.outputBytes,
      outputTruncated: run.truncated,
    };
    const json = Buffer.from(JSON.stringify(event));
    this.writeRecord(run, TYPE_EXITED, run.chunkCount, 'system', json);
    run.exited = event;
    return event;
  }

  /** The record with this seq (the `exited` has seq = chunk count), unless acknowledged or not yet written. */
  read(run: RunSpool, seq: number): SpoolRecord | undefined {
    const first = run.index[0];
    if (first === undefined) return undefined;
    const entry = run.index[seq - first.seq];
    if (entry === undefined) return undefined;
    const body = Buffer.allocUnsafe(entry.length);
    const got = readSync(entry.segment.fd, body, 0, entry.length, entry.offset);
    if (got !== entry.length) throw new Error(`spool segment ${entry.segment.path} is shorter than its index`);
    if (entry.type === TYPE_EXITED) {
      if (run.exited === undefined) throw new Error(`run ${run.runId}: exited record without an exited event`);
      return { kind: 'exited', event: run.exited };
    }
    return { kind: 'output', runId: run.runId, seq: entry.seq, stream: entry.stream, data: body };
  }

  /**
   * The master committed every record with seq <= `seq`. Returns true when that was the whole
   * run (its `exited` included): the run's folder is gone then.
   */
  ack(run: RunSpool, seq: number): boolean {
    if (seq <= run.ackedThrough) return false;
    run.ackedThrough = Math.min(seq, run.exited === undefined ? run.chunkCount - 1 : run.exited.seq);
    if (run.exited !== undefined && run.ackedThrough >= run.exited.seq) {
      this.removeRun(run);
      return true;
    }
    // Whole segments behind the ack go; the last one stays open for appending.
    while (run.segments.length > 1) {
      const first = run.segments[0];
      if (first === undefined || first.lastSeq > run.ackedThrough) break;
      run.segments.shift();
      this.dropSegment(first);
      let dropped = 0;
      while (run.index[dropped]?.segment === first) dropped += 1;
      run.index.splice(0, dropped);
    }
    return false;
  }

  /**
   * fdatasync of every dirty segment on libuv's thread pool, so a slow disk never stalls the
   * event loop (a synchronous sync of a 4 MiB segment took tens of ms on the build machine's
   * virtual disk). A segment deleted meanwhile answers EBADF, which is expected.
   */
  syncDirty(onError: (err: unknown) => void): void {
    for (const run of this.runs.values()) {
      for (const segment of run.segments) {
        if (!segment.dirty) continue;
        segment.dirty = false;
        fdatasync(segment.fd, (err) => {
          if (err !== null && errnoCode(err) !== 'EBADF') onError(err);
        });
      }
    }
  }

  private syncDirtyNow(): void {
    for (const run of this.runs.values()) {
      for (const segment of run.segments) {
        if (!segment.dirty) continue;
        fdatasyncSync(segment.fd);
        segment.dirty = false;
      }
    }
  }

  close(): void {
    this.syncDirtyNow();
    for (const run of this.runs.values()) {
      for (const segment of run.segments) closeSync(segment.fd);
    }
    this.runs.clear();
  }

  private writeChunk(run: RunSpool, stream: OutputStream, data: Uint8Array): void {
    this.writeRecord(run, TYPE_CHUNK, run.chunkCount, stream, data);
    run.chunkCount += 1;
  }

  private writeRecord(
    run: RunSpool,
    type: typeof TYPE_CHUNK | typeof TYPE_EXITED,
    seq: number,
    stream: OutputStream,
    payload: Uint8Array,
  ): Segment {
    let segment = run.segments.at(-1);
    // A full segment stays dirty until the next periodic sync; rotation itself does not wait.
    if (segment === undefined || segment.bytes >= this.segmentMaxBytes) segment = this.openSegment(run, seq);
    const prefix = type === TYPE_CHUNK ? BODY_PREFIX_BYTES + 1 : BODY_PREFIX_BYTES;
    const record = Buffer.allocUnsafe(HEADER_BYTES + prefix + payload.byteLength);
    record.writeUInt32BE(prefix + payload.byteLength, 0);
    record.writeUInt8(type, HEADER_BYTES);
    record.writeUInt32BE(seq, HEADER_BYTES + 1);
    if (type === TYPE_CHUNK) record.writeUInt8(streamCodes[stream], HEADER_BYTES + BODY_PREFIX_BYTES);
    record.set(payload, HEADER_BYTES + prefix);
    record.writeUInt32BE(crc32(record.subarray(HEADER_BYTES)), 4);
    writeSync(segment.fd, record, 0, record.byteLength, segment.bytes);
    run.index.push({
      seq,
      segment,
      offset: segment.bytes + HEADER_BYTES + prefix,
      length: payload.byteLength,
      type,
      stream,
    });
    segment.bytes += record.byteLength;
    segment.lastSeq = seq;
    segment.dirty = true;
    this.totalBytes += record.byteLength;
    return segment;
  }

  private openSegment(run: RunSpool, firstSeq: number): Segment {
    const seq = String(firstSeq).padStart(10, '0');
    const path =
      run.legacyFolder === undefined
        ? join(this.options.dir, `${run.runId}.${seq}.seg`)
        : join(run.legacyFolder, `${seq}.seg`);
    let fd: number;
    try {
      fd = openSync(path, OPEN_NEW, 0o600);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      // Whatever stands there (a symlink, a directory) is nothing this spool wrote.
      this.setAside(run.runId, path, 'an entry in the way of a new segment');
      fd = openSync(path, OPEN_NEW, 0o600);
    }
    const segment: Segment = { firstSeq, path, fd, bytes: 0, lastSeq: -1, dirty: false };
    run.segments.push(segment);
    return segment;
  }

  /** Renames an entry that is not ours out of the segment names; it is not followed, opened or deleted. */
  private setAside(runId: string, path: string, what: string): void {
    const aside = `${path}.${randomBytes(4).toString('hex')}.unusable`;
    renameSync(path, aside);
    this.options.onCut?.(runId, `${path}: ${what}, not a segment: moved to ${aside}`);
  }

  private dropSegment(segment: Segment): void {
    closeSync(segment.fd);
    removeFile(segment.path);
    this.totalBytes -= segment.bytes;
  }

  /** Removes a run's folder and records, whatever was acknowledged. */
  discard(run: RunSpool): void {
    this.removeRun(run);
  }

  private removeRun(run: RunSpool): void {
    for (const segment of run.segments) this.dropSegment(segment);
    run.segments.length = 0;
    run.index.length = 0;
    if (run.legacyFolder !== undefined) rmSync(run.legacyFolder, { recursive: true, force: true });
    this.runs.delete(run.runId);
  }

  private recover(): void {
    const found = new Map<string, { legacyFolder: string | undefined; entries: FoundEntry[] }>();
    for (const entry of readdirSync(this.options.dir, { withFileTypes: true })) {
      if (entry.isDirectory() && ID_PATTERN.test(entry.name)) {
        const legacyFolder = join(this.options.dir, entry.name);
        const entries = readdirSync(legacyFolder, { withFileTypes: true }).flatMap((inner) => {
          const match = SEGMENT_NAME.exec(inner.name);
          return match === null || match[1] !== undefined ? [] : [this.found(entry.name, legacyFolder, inner, match)];
        });
        found.set(entry.name, { legacyFolder, entries });
        continue;
      }
      const match = SEGMENT_NAME.exec(entry.name);
      const runId = match?.[1];
      if (match === null || runId === undefined) continue;
      const run = found.get(runId) ?? { legacyFolder: undefined, entries: [] };
      // A run has one layout; should both exist, the folder's segments are the run's.
      if (run.legacyFolder === undefined) run.entries.push(this.found(runId, this.options.dir, entry, match));
      found.set(runId, run);
    }
    for (const runId of [...found.keys()].sort()) {
      const run = found.get(runId);
      if (run !== undefined) {
        this.recoverRun(
          runId,
          run.legacyFolder,
          run.entries.sort((a, b) => a.firstSeq - b.firstSeq),
        );
      }
    }
  }

  /** A directory entry named like a segment; one that is not a regular file is set aside at once. */
  private found(runId: string, folder: string, entry: Dirent, match: RegExpExecArray): FoundEntry {
    const firstSeq = Number(match[2]);
    if (entry.isFile()) return { name: entry.name, firstSeq, unusable: undefined };
    const what = entry.isDirectory()
      ? 'a directory'
      : entry.isSymbolicLink()
        ? 'a symbolic link'
        : 'not a regular file';
    this.setAside(runId, join(folder, entry.name), what);
    return { name: entry.name, firstSeq, unusable: what };
  }

  private recoverRun(runId: string, legacyFolder: string | undefined, entries: readonly FoundEntry[]): void {
    const run = this.addRun(runId, legacyFolder);
    let broken = false;
    const cut = (firstSeq: number, reason: string): void => {
      broken = true;
      if (run.exited === undefined) run.lost = { fromSeq: (run.index.at(-1)?.seq ?? firstSeq - 1) + 1, reason };
    };
    for (const { name, firstSeq, unusable } of entries) {
      const path = join(legacyFolder ?? this.options.dir, name);
      if (broken) {
        if (unusable === undefined) removeFile(path);
        continue;
      }
      if (unusable !== undefined) {
        cut(firstSeq, unusable);
        continue;
      }
      const opened = openExisting(path);
      if (typeof opened === 'string') {
        this.options.onCut?.(runId, `${path}: ${opened}; the run is cut there`);
        cut(firstSeq, opened);
        continue;
      }
      const { fd, size } = opened;
      const segment: Segment = { firstSeq, path, fd, bytes: 0, lastSeq: -1, dirty: false };
      const torn = this.scanSegment(run, segment, size);
      if (torn !== undefined) {
        cut(firstSeq, torn);
        this.options.onCut?.(runId, `${path}: ${torn}; cut at byte ${segment.bytes} of ${size}`);
        ftruncateSync(fd, segment.bytes);
      }
      if (segment.bytes === 0 && run.segments.length > 0) {
        closeSync(fd);
        removeFile(path);
        continue;
      }
      run.segments.push(segment);
      this.totalBytes += segment.bytes;
    }
    // Records before the first one kept were acknowledged: the run goes on from there.
    const first = run.index[0]?.seq ?? entries[0]?.firstSeq ?? 0;
    if (run.index.length === 0) run.chunkCount = first;
    run.ackedThrough = first - 1;
  }

  /** Reads records into the index; returns why it stopped early, or undefined at a clean end. */
  private scanSegment(run: RunSpool, segment: Segment, size: number): string | undefined {
    const content = Buffer.allocUnsafe(size);
    readSync(segment.fd, content, 0, size, 0);
    let offset = 0;
    while (offset < size) {
      if (size - offset < HEADER_BYTES + BODY_PREFIX_BYTES) return 'torn record header';
      const length = content.readUInt32BE(offset);
      if (length < BODY_PREFIX_BYTES || length > MAX_RECORD_BODY_BYTES) return `impossible record length ${length}`;
      if (offset + HEADER_BYTES + length > size) return 'torn record body';
      const body = content.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
      if (crc32(body) !== content.readUInt32BE(offset + 4)) return 'CRC mismatch';
      const type = body.readUInt8(0);
      const seq = body.readUInt32BE(1);
      const expectedSeq = (run.index.at(-1)?.seq ?? segment.firstSeq - 1) + 1;
      if (seq !== expectedSeq || run.exited !== undefined) return `unexpected record seq ${seq}`;
      if (type === TYPE_CHUNK) {
        const stream = streamsByCode[body.readUInt8(BODY_PREFIX_BYTES)];
        if (stream === undefined) return 'unknown stream';
        const dataLength = length - BODY_PREFIX_BYTES - 1;
        run.index.push({
          seq,
          segment,
          offset: offset + HEADER_BYTES + BODY_PREFIX_BYTES + 1,
          length: dataLength,
          type: TYPE_CHUNK,
          stream,
        });
        run.chunkCount = seq + 1;
        if (stream === 'system') run.truncated = true;
        else run.outputBytes += dataLength;
      } else if (type === TYPE_EXITED) {
        const parsed = parseExited(body.subarray(BODY_PREFIX_BYTES));
        if (parsed === undefined || parsed.runId !== run.runId || parsed.seq !== seq) return 'invalid exited record';
        run.index.push({
          seq,
          segment,
          offset: offset + HEADER_BYTES + BODY_PREFIX_BYTES,
          length: length - BODY_PREFIX_BYTES,
          type: TYPE_EXITED,
          stream: 'system',
        });
        run.exited = parsed;
        run.outputBytes = parsed.outputBytes;
        run.truncated = parsed.outputTruncated;
      } else {
        return `unknown record type ${type}`;
      }
      segment.lastSeq = seq;
      offset += HEADER_BYTES + length;
      segment.bytes = offset;
    }
    return undefined;
  }
}

function parseExited(json: Buffer): ExitedEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = exitedEventSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** A regular file opened read-write, or why it cannot be a segment (it was swapped since readdir). */
function openExisting(path: string): { fd: number; size: number } | string {
  let fd: number;
  try {
    fd = openSync(path, OPEN_EXISTING);
  } catch (err) {
    const code = errnoCode(err);
    if (code === undefined) throw err;
    return code === 'ELOOP' ? 'a symbolic link' : code === 'EISDIR' ? 'a directory' : `cannot open it (${code})`;
  }
  const stat = fstatSync(fd);
  if (stat.isFile()) return { fd, size: stat.size };
  closeSync(fd);
  return 'not a regular file';
}

/** unlink(2) alone: rmSync stats first, and a segment is always a plain file we made. */
function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
