import type { Socket } from 'node:net';

/** CONNECT's packet type (the fixed header's high nibble). */
const CONNECT_PACKET_TYPE = 1;

export interface PacketLimits {
  /** The largest packet once the CONNACK went out (Mosquitto's `max_packet_size`). */
  maxPacketBytes: number;
  /** Everything a connection may send before its CONNACK, the CONNECT included. */
  preAuthMaxBytes: number;
}

export type PacketRefusal =
  | { reason: 'not_connect'; packetType: number }
  | { reason: 'too_large'; authenticated: boolean; announcedBytes: number; limitBytes: number };

export interface PacketGuardHandlers {
  /** The CONNECT is whole and within the limits, and still unread in the socket: give it to Aedes. */
  handOver(): void;
  /** Called before the guard destroys the socket. */
  refused(refusal: PacketRefusal): void;
  /** A socket error before the hand-over (the socket is destroyed with it). */
  socketError(err: Error): void;
}

export interface PacketGuard {
  /** The CONNACK went out: from now on packets of any type up to `maxPacketBytes` each. */
  authenticated(): void;
}

/**
 * Aedes has no packet size limit: its parser buffers whatever length a fixed header announces.
 * This reads each MQTT fixed header as bytes pass and destroys the socket as soon as one breaks
 * the limits. Before the CONNACK the first packet must be a CONNECT and the whole connection may
 * send only `preAuthMaxBytes`, so a socket that never logs in holds a few KiB, not a packet's
 * worth: 1,500 unfinished 512 KiB CONNECTs once took the master from 184 to 849 MiB of RSS.
 *
 * The CONNECT is read here, before Aedes sees the socket, and put back (`unshift`) for Aedes
 * only once it is whole and within the limits. A refused socket's first read (up to 64 KiB)
 * then dies young, with nothing but this function holding it. Given to Aedes, it stayed in the
 * parser of a client object that lived long enough to reach V8's old generation, and was freed
 * only at the next full GC: a flood of refused sockets still grew the master by ~60 MiB, which
 * the allocator then kept.
 *
 * Past the CONNECT it listens to 'data' beside Aedes's 'readable': with a 'readable' listener
 * the socket stays paused and emits 'data' inside each `read()`, before Aedes's parser gets the
 * chunk. A Duplex wrapped around the socket did the same at ~0.9 KB of heap per connection
 * (stream states, listeners) and a second stream hop per read. Aedes stops reading while it
 * checks the credentials and starts again after its 'connackSent' event, so every byte read
 * before `authenticated()` (called from that event) counts against `preAuthMaxBytes`.
 */
export function guardPacketSize(socket: Socket, limits: PacketLimits, handlers: PacketGuardHandlers): PacketGuard {
  let reader = new FixedHeaderReader();
  let authenticated = false;
  /** Bytes read before the current chunk, counted until the CONNACK. */
  let readBefore = 0;
  let packets = 0;
  const check = (type: number, length: number, headerEnd: number): PacketRefusal | undefined => {
    packets += 1;
    if (authenticated) {
      return length > limits.maxPacketBytes
        ? { reason: 'too_large', authenticated, announcedBytes: length, limitBytes: limits.maxPacketBytes }
        : undefined;
    }
    if (packets === 1 && type !== CONNECT_PACKET_TYPE) return { reason: 'not_connect', packetType: type };
    return readBefore + headerEnd + length > limits.preAuthMaxBytes
      ? { reason: 'too_large', authenticated, announcedBytes: length, limitBytes: limits.preAuthMaxBytes }
      : undefined;
  };
  /** False once the socket was refused and destroyed. */
  const inspect = (chunk: Buffer): boolean => {
    const refusal = reader.read(chunk, check);
    if (!authenticated) readBefore += chunk.length;
    if (refusal === undefined) return true;
    handlers.refused(refusal);
    socket.destroy();
    return false;
  };

  const onError = (err: Error): void => handlers.socketError(err);
  const head: Buffer[] = [];
  const readConnect = (): void => {
    for (;;) {
      const chunk: unknown = socket.read();
      if (!Buffer.isBuffer(chunk)) break;
      if (!inspect(chunk)) return;
      head.push(chunk);
    }
    if (packets === 0 || !reader.atPacketEnd()) return;
    // Aedes re-reads the CONNECT from the socket, and listens for its errors; the checks start
    // again with it.
    socket.off('readable', readConnect);
    socket.off('error', onError);
    socket.unshift(Buffer.concat(head));
    head.length = 0;
    reader = new FixedHeaderReader();
    readBefore = 0;
    packets = 0;
    handlers.handOver();
    if (socket.listenerCount('readable') === 0) {
      // Without it, a 'data' listener would switch the socket to flowing mode and race Aedes.
      throw new Error('handOver must give the socket to Aedes');
    }
    socket.on('data', inspect);
  };
  socket.on('readable', readConnect);
  socket.on('error', onError);
  return {
    authenticated() {
      authenticated = true;
    },
  };
}

/** Tracks packet boundaries across chunks and hands each completed fixed header to a check. */
class FixedHeaderReader {
  /** Bytes of the current packet still to pass; -1 while reading a fixed header. */
  private remaining = -1;
  private headerBytes = 0;
  private type = 0;
  private length = 0;
  private multiplier = 1;

  /** True when the bytes read so far end exactly at the end of a packet. */
  atPacketEnd(): boolean {
    return this.remaining === 0 || (this.remaining === -1 && this.headerBytes === 0);
  }

  /**
   * `check` gets each header completed in `chunk`: the packet type, its remaining length and the
   * offset in `chunk` where its body starts. The first refusal it returns stops the reading.
   */
  read(
    chunk: Buffer,
    check: (type: number, length: number, headerEnd: number) => PacketRefusal | undefined,
  ): PacketRefusal | undefined {
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
        this.type = byte >> 4;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.headerBytes += 1;
      if ((byte & 0x80) !== 0 && this.headerBytes < 5) continue;
      const refusal = check(this.type, this.length, i);
      if (refusal !== undefined) return refusal;
      this.headerBytes = 0;
      this.remaining = this.length;
    }
    return undefined;
  }
}
