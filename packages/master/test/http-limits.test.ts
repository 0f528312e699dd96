import { connect, type Socket } from 'node:net';
import { metricSum } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { startMaster } from '@edgestelle/fleet-fixture';

interface RawHttp {
  readonly socket: Socket;
  /** Resolves with everything the master sent once the socket closed. */
  readonly closed: Promise<string>;
}

async function openHttp(port: number): Promise<RawHttp> {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  // A refused connection may be reset; the close is what the test waits for.
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed };
}

describe('HTTP port limits', () => {
  it('drops half-sent headers and a dribbled body at their deadlines, and connections past the cap at once', async () => {
    const timeouts = { headersMs: 1000, requestMs: 2000, checkIntervalMs: 50 };
    const maxConnections = 4;
    await using stack = await startMaster({
      deps: { httpTimeouts: timeouts },
      config: { httpMaxConnections: String(maxConnections) },
    });
    const server = stack.master.app.server;
    const open = (): Promise<number> =>
      new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    expect(await open()).toBe(0);
    const port = stack.master.httpPort;

    const started = performance.now();
    const held = await Promise.all(Array.from({ length: maxConnections }, () => openHttp(port)));
    // Half a request line and headers, never finished.
    held[0]?.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    // Headers done, then a byte of body every 100 ms: 1,000 bytes would take 100 s.
    const dribbled = held[1];
    dribbled?.socket.write(
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    const drip = setInterval(() => dribbled?.socket.write(' '), 100);
    try {
      const refused = await openHttp(port);
      expect(await refused.closed).toBe('');
      expect(performance.now() - started).toBeLessThan(timeouts.headersMs);

      const [halfHeaders, slowBody, ...silent] = await Promise.all(held.map((connection) => connection.closed));
      expect(halfHeaders).toMatch(/^HTTP\/1\.1 408 /);
      expect(slowBody).toMatch(/^HTTP\/1\.1 408 /);
      // Connections that never sent a byte are held to the header deadline too.
      for (const answer of silent) expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(performance.now() - started).toBeGreaterThanOrEqual(timeouts.requestMs);
    } finally {
      clearInterval(drip);
    }

    const metrics = await (await stack.admin.request('GET', '/metrics')).text();
    expect(metricSum(metrics, 'edgestelle_http_connections_refused_total')).toBe(1);
  });
});
