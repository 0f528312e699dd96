import type { Socket } from 'node:net';

/**
 * Aedes has no packet size limit: its parser buffers whatever length a fixed header announces.
 * This reads each MQTT fixed header as bytes pass and destroys the socket as soon as one
 * announces more than `maxPacketBytes` (Mosquitto's `max_packet_size`): the parser holds at
 * most the bytes read with that header, and nothing more is read.
 *
 * Call it right after `aedes.handle(socket)`. It listens to 'data' beside Aedes's 'readable':
 * with a 'readable' listener the socket stays paused and emits 'data' inside each `read()`,
 * before Aedes's parser gets the chunk. A Duplex wrapped around the socket did the same at
 * ~0.9 KB of heap per connection (stream states, listeners) and a second stream hop per read.
 */
export function guardPacketSize(
  socket: Socket,
  maxPacketBytes: number,
  onOversize: (announcedBytes: number) => void,
): void {
  if (socket.listenerCount('readable') === 0) {
    // Without it, a 'data' listener would switch the socket to flowing mode and race Aedes.
    throw new Error('guardPacketSize needs the socket handed to Aedes first');
  }
  const header = new FixedHeaderReader(maxPacketBytes);
  socket.on('data', (chunk: Buffer) => {
    const announced = header.oversize(chunk);
    if (announced === undefined) return;
    onOversize(announced);
    socket.destroy();
  });
}

/** Tracks packet boundaries across chunks; `oversize` answers the first announced length over the cap. */
class FixedHeaderReader {
  /** Bytes of the current packet still to pass; -1 while reading a fixed header. */
  private remaining = -1;
  private headerBytes = 0;
  private length = 0;
  private multiplier = 1;

  constructor(private readonly maxPacketBytes: number) {}

  oversize(chunk: Buffer): number | undefined {
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
      if (this.length > this.maxPacketBytes) return this.length;
      this.headerBytes = 0;
      this.remaining = this.length;
    }
    return undefined;
  }
}
