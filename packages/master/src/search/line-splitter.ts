import { limits } from '@edgestelle/protocol';
import { z } from 'zod';

/**
 * Longest piece of a line in the index, in bytes: the largest chunk, so a line that lies in
 * one chunk is indexed whole. A longer line (it spans chunks) is indexed in pieces of this
 * size, each numbered as a line of its own, cut between characters.
 */
export const MAX_LINE_BYTES = limits.chunkMaxBytes;

export interface SplitLine {
  /** The chunk the line starts in (a piece of a longer line: that chunk, or one before it). */
  seq: number;
  stream: string;
  lineNo: number;
  line: string;
  createdAt: number;
}

/** A line not ended yet: its bytes so far and the chunk it starts in (or one before). */
interface OpenLine {
  seq: number;
  at: number;
  bytes: Buffer;
}

export interface ChunkInput {
  seq: number;
  stream: string;
  data: Uint8Array;
  createdAt: number;
}

const carrySchema = z.record(z.string(), z.object({ seq: z.number().int(), at: z.number(), data: z.string() }));
/** Each stream's unfinished line: bytes (base64) and the chunk it began in. */
export type Carry = z.infer<typeof carrySchema>;

export function parseCarry(text: string | null): Carry {
  return text === null ? {} : carrySchema.parse(JSON.parse(text));
}

export function serializeCarry(carry: Carry): string | null {
  return Object.keys(carry).length === 0 ? null : JSON.stringify(carry);
}

/**
 * Cuts a run's chunks (in seq order, without a gap) into lines, per stream, carrying an
 * unfinished line to the next chunk of its stream: a line printed across two chunks is one
 * line, and a multi-byte character split between chunks is decoded whole. Empty lines are
 * numbered but not returned (nothing to find in them).
 */
export class LineSplitter {
  readonly lines: SplitLine[] = [];

  constructor(
    private carry: Carry,
    private lineNo: number,
  ) {}

  push(chunk: ChunkInput): void {
    const open = this.carry[chunk.stream];
    let line: OpenLine =
      open === undefined
        ? { seq: chunk.seq, at: chunk.createdAt, bytes: Buffer.alloc(0) }
        : { seq: open.seq, at: open.at, bytes: Buffer.from(open.data, 'base64') };
    const data = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
    let from = 0;
    for (;;) {
      const newline = data.indexOf(0x0a, from);
      line = this.extend(chunk, line, data.subarray(from, newline === -1 ? data.length : newline));
      if (newline === -1) break;
      this.emitLast(chunk.stream, line);
      line = { seq: chunk.seq, at: chunk.createdAt, bytes: Buffer.alloc(0) };
      from = newline + 1;
    }
    if (line.bytes.length === 0) {
      const { [chunk.stream]: _done, ...rest } = this.carry;
      void _done;
      this.carry = rest;
    } else {
      this.carry = {
        ...this.carry,
        [chunk.stream]: { seq: line.seq, at: line.at, data: line.bytes.toString('base64') },
      };
    }
  }

  /** The run is over: what never ended in a newline is a line too. */
  finish(): void {
    for (const [stream, open] of Object.entries(this.carry)) {
      this.emitLast(stream, { seq: open.seq, at: open.at, bytes: Buffer.from(open.data, 'base64') });
    }
    this.carry = {};
  }

  state(): { carry: Carry; lineNo: number } {
    return { carry: this.carry, lineNo: this.lineNo };
  }

  /**
   * `part` of `chunk` added to the open line; while that is longer than a piece, pieces are
   * indexed off its front. What is left starts in this chunk once the carried bytes are used up.
   */
  private extend(chunk: ChunkInput, line: OpenLine, part: Buffer): OpenLine {
    let { seq, at } = line;
    let bytes = line.bytes.length === 0 ? part : Buffer.concat([line.bytes, part]);
    let carried = line.bytes.length;
    while (bytes.length > MAX_LINE_BYTES) {
      const cut = pieceEnd(bytes);
      this.emit(seq, chunk.stream, bytes.subarray(0, cut), at);
      bytes = bytes.subarray(cut);
      carried = Math.max(0, carried - cut);
      if (carried === 0) {
        seq = chunk.seq;
        at = chunk.createdAt;
      }
    }
    return { seq, at, bytes };
  }

  /** The end of a line: its carriage return dropped. */
  private emitLast(stream: string, line: OpenLine): void {
    const { bytes } = line;
    this.emit(line.seq, stream, bytes.at(-1) === 0x0d ? bytes.subarray(0, -1) : bytes, line.at);
  }

  private emit(seq: number, stream: string, bytes: Buffer, createdAt: number): void {
    this.lineNo += 1;
    const text = bytes.toString('utf8').replaceAll('\0', '\uFFFD');
    if (text.trim() === '') return;
    this.lines.push({ seq, stream, lineNo: this.lineNo, line: text, createdAt });
  }
}

/** Where the first piece of `bytes` (longer than a piece) ends: not inside a UTF-8 character. */
function pieceEnd(bytes: Buffer): number {
  let cut = MAX_LINE_BYTES;
  while (cut > MAX_LINE_BYTES - 4 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut -= 1;
  return cut;
}
