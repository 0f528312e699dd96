import { connect, type Socket } from 'node:net';

/** MQTT packet types (the fixed header's high nibble). */
export const PacketType = { connect: 1, publish: 3 } as const;

/** A fixed header: the type byte and the remaining length as MQTT's 1-4 byte varint. */
export function fixedHeader(type: number, remainingLength: number): Buffer {
  const bytes = [type << 4];
  let length = remainingLength;
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    bytes.push(byte);
  } while (length > 0);
  return Buffer.from(bytes);
}

/** A whole MQTT 3.1.1 CONNECT: clean session, no will, no credentials. */
export function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const body = Buffer.concat([
    Buffer.from([0x00, 0x04, ...Buffer.from('MQTT'), 0x04, 0x02, 0x00, 0x3c]),
    Buffer.from([id.length >> 8, id.length & 0xff]),
    id,
  ]);
  return Buffer.concat([fixedHeader(PacketType.connect, body.length), body]);
}

export interface RawConnection {
  readonly socket: Socket;
  /** Resolves when the socket closes, whoever closed it. */
  readonly closed: Promise<void>;
  /** Everything the broker sent. */
  received(): Buffer;
}

/** A plain TCP connection to 127.0.0.1:`port`, open once this resolves. */
export async function openRaw(port: number): Promise<RawConnection> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // A broker that closes the socket may reset it first; the close is what the tests wait for.
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    void closed.then(() => reject(new Error(`the connection to port ${port} closed before it opened`)));
  });
  return { socket, closed, received: () => Buffer.concat(chunks) };
}
