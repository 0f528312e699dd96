import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

/**
 * Aedes has no packet size limit: its parser buffers whatever length a fixed header announces.
 * This wrapper reads each MQTT fixed header as bytes pass and ends the connection as soon as
 * one announces more than `maxPacketBytes` (Mosquitto's `max_packet_size`), before the body is
 * buffered anywhere.
 */
export class PacketSizeGuard extends Duplex {
  /** Bytes of the current packet still to pass; -1 while reading a fixed header. */
  private remaining = -1;
  private headerBytes = 0;
  private length = 0;
  private multiplier = 1;

  constructor(
    private readonly socket: Socket,
    private readonly maxPacketBytes: number,
    private readonly onOversize: (announcedBytes: number) => void,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => {
      if (!this.check(chunk)) return;
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  private check(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, chunk.length - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      if (this.remaining === 0) this.remaining = -1;
      const byte = chunk[i] ?? 0;
      i += 1;
      if (this.headerBytes === 0) {
        // The packet type byte; the remaining length (1-4 bytes, 7 bits each) follows.
        this.headerBytes = 1;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.headerBytes += 1;
      if ((byte & 0x80) !== 0 && this.headerBytes < 5) continue;
      if (this.length > this.maxPacketBytes) {
        this.onOversize(this.length);
        this.socket.destroy();
        this.destroy();
        return false;
      }
      this.headerBytes = 0;
      this.remaining = this.length;
    }
    return true;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }

  /**
   * Aedes (mqtt-packet) writes each packet as several buffers inside cork/uncork: passing them
   * on as one write keeps them one syscall, as on a plain socket (the per-buffer path cost a
   * fifth of the ingest bench's CPU).
   */
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    this.socket.write(
      chunks.length === 1 ? (chunks[0]?.chunk ?? Buffer.alloc(0)) : Buffer.concat(chunks.map((c) => c.chunk)),
      done,
    );
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end(done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy(err ?? undefined);
    done(err);
  }
}
