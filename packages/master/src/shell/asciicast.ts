import { StringDecoder } from 'node:string_decoder';

export interface AsciicastHeader {
  cols: number;
  rows: number;
  startedAtMs: number;
  term: string;
  command: string | undefined;
}

/**
 * A terminal session as an asciicast v2 file (https://docs.asciinema.org/manual/asciicast/v2/):
 * a JSON header line, then `[seconds, "o", text]` output and `[seconds, "r", "COLSxROWS"]`
 * resize lines. Output is decoded as a stream, so a character split over two messages stays
 * whole. Past `maxBytes` the recording stops with a marker line; the session goes on.
 */
export class AsciicastRecorder {
  private readonly lines: string[];
  private readonly decoder = new StringDecoder('utf8');
  private size: number;
  private full = false;

  constructor(
    private readonly header: AsciicastHeader,
    private readonly maxBytes: number,
  ) {
    const first = JSON.stringify({
      version: 2,
      width: header.cols,
      height: header.rows,
      timestamp: Math.floor(header.startedAtMs / 1000),
      ...(header.command === undefined ? {} : { command: header.command }),
      env: { TERM: header.term },
    });
    this.lines = [first];
    this.size = Buffer.byteLength(first) + 1;
  }

  output(atMs: number, data: Uint8Array): void {
    const text = this.decoder.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    if (text !== '') this.add(atMs, 'o', text);
  }

  resize(atMs: number, cols: number, rows: number): void {
    this.add(atMs, 'r', `${cols}x${rows}`);
  }

  /** The whole file; call once, at the end. */
  finish(atMs: number): string {
    const rest = this.decoder.end();
    if (rest !== '') this.add(atMs, 'o', rest);
    return `${this.lines.join('\n')}\n`;
  }

  private add(atMs: number, type: 'o' | 'r' | 'm', data: string): void {
    if (this.full) return;
    const line = JSON.stringify([Math.max(0, atMs - this.header.startedAtMs) / 1000, type, data]);
    if (this.size + Buffer.byteLength(line) + 1 > this.maxBytes) {
      this.full = true;
      this.lines.push(
        JSON.stringify([Math.max(0, atMs - this.header.startedAtMs) / 1000, 'm', 'recording cut: size cap']),
      );
      return;
    }
    this.lines.push(line);
    this.size += Buffer.byteLength(line) + 1;
  }
}
