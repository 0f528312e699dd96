import { connect, createServer, type Socket } from 'node:net';

/** Bytes from the client towards the server, or back. */
export type ProxyDirection = 'toServer' | 'toClient';

export interface TcpProxy extends AsyncDisposable {
  readonly port: number;
  /** `host:port` clients connect to instead of the target. */
  readonly address: string;
  /**
   * A partition: nothing passes in either direction, and sockets stay open, so neither side
   * hears a reset. Unread bytes wait in the kernel, as TCP would retransmit them: a connection
   * both ends keep until {@link heal} carries on; one an end gave up on (keepalive) is closed.
   */
  blackhole(): void;
  /** Holds one direction only: the other keeps flowing. */
  hold(direction: ProxyDirection): void;
  /** Lets everything pass again. */
  heal(): void;
  /** Resets every open connection (RST), as a dying middlebox would. */
  cut(): void;
  readonly stats: { connections: number; open: number; bytes: Record<ProxyDirection, number> };
  /**
   * Bytes read from one side and kept back while that direction is held, over every open
   * connection: a test's proof that what it sent reached the fault and stopped there.
   */
  heldBytes(direction: ProxyDirection): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `targetPort` that a test can blackhole, hold in one
 * direction, or cut: the network faults between an agent (or master) and its broker.
 */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  const held: Record<ProxyDirection, boolean> = { toServer: false, toClient: false };
  const stats = { connections: 0, open: 0, bytes: { toServer: 0, toClient: 0 } };

  const gate = (pair: Pair, direction: ProxyDirection): void => {
    const [from, to] = direction === 'toServer' ? [pair.client, pair.server] : [pair.server, pair.client];
    if (held[direction]) {
      from.unpipe(to);
      from.pause();
    } else {
      from.pipe(to);
    }
  };

  const server = createServer((client) => {
    const upstream = connect({ host: targetHost, port: targetPort });
    const pair: Pair = { client, server: upstream };
    pairs.add(pair);
    stats.connections += 1;
    stats.open += 1;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (data: Buffer) => (stats.bytes.toServer += data.byteLength));
    upstream.on('data', (data: Buffer) => (stats.bytes.toClient += data.byteLength));
    // Either end closing ends both: a proxy has no half of a connection to keep.
    const end = (): void => {
      if (!pairs.delete(pair)) return;
      stats.open -= 1;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    // A reset from either side is how a connection ends here, not a test failure.
    client.on('error', end);
    upstream.on('error', end);
    gate(pair, 'toServer');
    gate(pair, 'toClient');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address from listen()');
  const port = address.port;

  const setHeld = (direction: ProxyDirection, value: boolean): void => {
    if (held[direction] === value) return;
    held[direction] = value;
    for (const pair of pairs) gate(pair, direction);
  };
  const cut = (): void => {
    for (const pair of [...pairs]) {
      pair.client.resetAndDestroy();
      pair.server.resetAndDestroy();
    }
  };
  const close = async (): Promise<void> => {
    cut();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return {
    port,
    address: `127.0.0.1:${port}`,
    blackhole: () => {
      setHeld('toServer', true);
      setHeld('toClient', true);
    },
    hold: (direction) => setHeld(direction, true),
    heal: () => {
      setHeld('toServer', false);
      setHeld('toClient', false);
    },
    cut,
    stats,
    heldBytes: (direction) => {
      let total = 0;
      for (const pair of pairs) total += (direction === 'toServer' ? pair.client : pair.server).readableLength;
      return total;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
