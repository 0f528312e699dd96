import { z } from 'zod';

/** Longest line kept in the index; a longer one is cut into pieces of this size. */
export const MAX_LINE_CHARS = 2000;
/** A line still open after this many bytes is indexed as it stands and continued as a new piece. */
const MAX_CARRY_BYTES = 8 * 1024;

export interface SplitLine {
  /** The chunk the line starts in. */
  seq: number;
  stream: string;
  lineNo: number;
  line: string;
  createdAt: number;
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
    let pending: Buffer = open === undefined ? Buffer.alloc(0) : Buffer.from(open.data, 'base64');
    let startSeq = open?.seq ?? chunk.seq;
    let startAt = open?.at ?? chunk.createdAt;
    const data = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
    let from = 0;
    for (;;) {
      const newline = data.indexOf(0x0a, from);
      if (newline === -1) break;
      const bytes =
        pending.length === 0 ? data.subarray(from, newline) : Buffer.concat([pending, data.subarray(from, newline)]);
      this.emit(startSeq, chunk.stream, bytes, startAt);
      pending = Buffer.alloc(0);
      startSeq = chunk.seq;
      startAt = chunk.createdAt;
      from = newline + 1;
    }
    pending = pending.length === 0 ? data.subarray(from) : Buffer.concat([pending, data.subarray(from)]);
    if (pending.length > MAX_CARRY_BYTES) {
      this.emit(startSeq, chunk.stream, pending, startAt);
      pending = Buffer.alloc(0);
    }
    if (pending.length === 0) {
      const { [chunk.stream]: _done, ...rest } = this.carry;
      void _done;
      this.carry = rest;
    } else {
      this.carry = { ...this.carry, [chunk.stream]: { seq: startSeq, at: startAt, data: pending.toString('base64') } };
    }
  }

  /** The run is over: what never ended in a newline is a line too. */
  finish(): void {
    for (const [stream, open] of Object.entries(this.carry)) {
      this.emit(open.seq, stream, Buffer.from(open.data, 'base64'), open.at);
    }
    this.carry = {};
  }

  state(): { carry: Carry; lineNo: number } {
    return { carry: this.carry, lineNo: this.lineNo };
  }

  private emit(seq: number, stream: string, bytes: Buffer, createdAt: number): void {
    this.lineNo += 1;
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    const text = bytes.subarray(0, end).toString('utf8').replaceAll('\0', '\uFFFD');
    if (text.trim() === '') return;
    this.lines.push({ seq, stream, lineNo: this.lineNo, line: text.slice(0, MAX_LINE_CHARS), createdAt });
  }
}
