import type { OutputStream } from '@edgestelle/protocol';

export interface ChunkerOptions {
  /** A chunk is cut when this many bytes are waiting. */
  maxBytes: number;
  /** …or this long after its first byte arrived, whichever comes first. */
  flushDelayMs: number;
  emit: (stream: OutputStream, data: Buffer) => void;
}

/**
 * Cuts a process's output into chunks by size and time. Bytes pass through untouched. A
 * chunk holds one stream; when the other stream speaks, the waiting bytes are cut first, so
 * the chunk order keeps the order in which the process wrote stdout and stderr.
 */
export class Chunker {
  private stream: OutputStream | undefined;
  private parts: Buffer[] = [];
  private waiting = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ChunkerOptions) {}

  push(stream: OutputStream, data: Buffer): void {
    if (data.byteLength === 0) return;
    if (this.stream !== undefined && this.stream !== stream) this.flush();
    this.stream = stream;
    let rest = data;
    while (this.waiting + rest.byteLength >= this.options.maxBytes) {
      const take = this.options.maxBytes - this.waiting;
      this.parts.push(rest.subarray(0, take));
      this.waiting += take;
      rest = rest.subarray(take);
      this.flush();
      this.stream = stream;
    }
    if (rest.byteLength > 0) {
      this.parts.push(rest);
      this.waiting += rest.byteLength;
      this.timer ??= setTimeout(() => this.flush(), this.options.flushDelayMs);
    }
  }

  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const stream = this.stream;
    if (stream === undefined || this.waiting === 0) return;
    const data = this.parts.length === 1 && this.parts[0] !== undefined ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = [];
    this.waiting = 0;
    this.stream = undefined;
    this.options.emit(stream, data);
  }
}
