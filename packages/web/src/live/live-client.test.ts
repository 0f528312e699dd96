import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChunkDto, LiveServerMessage } from '@edgestelle/protocol';
import { liveClientMessageSchema, newId } from '@edgestelle/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { LiveClient, type LiveSocket } from './live-client.ts';

/**
 * These tests drive the client against a small hub speaking the live protocol over real
 * sockets, to pin reconnect behaviour the master cannot be made to show on demand (a drop
 * after exactly four chunks, a duplicate, a gap). The real hub is covered in e2e/.
 */

const runId = newId();
const jobId = newId();

function chunk(seq: number): LiveServerMessage {
  return { type: 'chunk', chunk: { runId, seq, stream: 'stdout', data: btoa(`line ${seq}\n`) } };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return data instanceof ArrayBuffer ? Buffer.from(data).toString('utf8') : data.toString('utf8');
}

/** `ws` speaks the same events as the browser's WebSocket; this adapts its types. */
function connect(url: string): LiveSocket {
  const ws = new WebSocket(url);
  const socket: LiveSocket = {
    get readyState() {
      return ws.readyState;
    },
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    onopen: null,
    onmessage: null,
    onclose: null,
  };
  ws.on('open', () => socket.onopen?.());
  ws.on('message', (data, isBinary) => socket.onmessage?.({ data: isBinary ? data : rawText(data) }));
  ws.on('close', (code, reason) => socket.onclose?.({ code, reason: reason.toString() }));
  // A refused or dropped connection also emits 'close', which the client acts on.
  ws.on('error', () => undefined);
  return socket;
}

interface Hub {
  url: string;
  subscriptions: unknown[];
  server: WebSocketServer;
}

async function startHub(
  onSubscribe: (send: (m: LiveServerMessage) => void, message: unknown, connection: number, ws: WebSocket) => void,
): Promise<Hub> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const subscriptions: unknown[] = [];
  let connections = 0;
  server.on('connection', (ws) => {
    connections += 1;
    const connection = connections;
    ws.on('message', (data) => {
      const message = liveClientMessageSchema.parse(JSON.parse(rawText(data)));
      subscriptions.push(message);
      onSubscribe((m) => ws.send(JSON.stringify(m)), message, connection, ws);
    });
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/api/v1/live`, subscriptions, server };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track(hub: Hub, client: LiveClient): void {
  cleanups.push(() => new Promise<void>((resolve) => hub.server.close(() => resolve())));
  cleanups.push(() => client.close());
}

function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error('condition not met in time'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

/**
 * Real sockets and real timers, counted: the client opens sockets only through `connect` and
 * waits only through `setTimer`, so with neither called after a refusal nothing can follow it.
 */
function countingConnections() {
  const timers = { connects: 0, scheduled: 0 };
  const pending = new Map<unknown, ReturnType<typeof setTimeout>>();
  const options = {
    connect: (url: string): LiveSocket => {
      timers.connects += 1;
      return connect(url);
    },
    setTimer: (fn: () => void, ms: number): unknown => {
      timers.scheduled += 1;
      const timeout = setTimeout(fn, ms);
      pending.set(timeout, timeout);
      return timeout;
    },
    clearTimer: (timer: unknown): void => {
      clearTimeout(pending.get(timer));
      pending.delete(timer);
    },
  };
  return { timers, options };
}

describe('LiveClient', () => {
  it('resumes a run from the seq after the last chunk it delivered, without gap or duplicate', async () => {
    const total = 10;
    let dropFirstConnection = (): void => undefined;
    const hub = await startHub((send, message, connection, ws) => {
      if (typeof message !== 'object' || message === null || !('fromSeq' in message)) return;
      const fromSeq = Number(message.fromSeq);
      if (connection === 1) {
        for (let seq = fromSeq; seq < 4; seq += 1) send(chunk(seq));
        // Dropped abruptly, as a dying proxy would, once the client has delivered all four.
        dropFirstConnection = () => ws.terminate();
        return;
      }
      // Replay one chunk the client already has: it must not be shown twice.
      for (let seq = Math.max(0, fromSeq - 1); seq < total; seq += 1) send(chunk(seq));
      send({ type: 'replayed', runId, nextSeq: total });
    });
    const client = new LiveClient({ url: hub.url, connect, backoff: { baseMs: 20, maxMs: 100 } });
    track(hub, client);

    const seen: ChunkDto[] = [];
    let replayedAt = -1;
    client.subscribeRun(runId, 0, {
      onChunk: (c) => {
        seen.push(c);
        if (c.seq === 3) dropFirstConnection();
      },
      onReplayed: (n) => (replayedAt = n),
    });
    await waitFor(() => replayedAt === total);

    expect(seen.map((c) => c.seq)).toEqual([...Array(total).keys()]);
    const runSubscriptions = hub.subscriptions.filter((s) => typeof s === 'object' && s !== null && 'fromSeq' in s);
    expect(runSubscriptions).toEqual([
      { type: 'subscribe', topic: 'run', runId, fromSeq: 0 },
      { type: 'subscribe', topic: 'run', runId, fromSeq: 4 },
    ]);
  });

  it('restarts from the gap when the stream skips a seq', async () => {
    const hub = await startHub((send, message, connection) => {
      if (typeof message !== 'object' || message === null || !('fromSeq' in message)) return;
      const fromSeq = Number(message.fromSeq);
      const seqs = connection === 1 ? [0, 1, 3] : [fromSeq, fromSeq + 1, fromSeq + 2];
      for (const seq of seqs) send(chunk(seq));
    });
    const client = new LiveClient({ url: hub.url, connect, backoff: { baseMs: 20, maxMs: 100 } });
    track(hub, client);
    const seen: number[] = [];
    client.subscribeRun(runId, 0, { onChunk: (c) => seen.push(c.seq) });
    await waitFor(() => seen.length >= 5);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('restores job and node subscriptions after a reconnect and reports its status', async () => {
    const hub = await startHub((_send, _message, connection, ws) => {
      if (connection === 1 && hub.subscriptions.length === 2) ws.terminate();
    });
    const client = new LiveClient({ url: hub.url, connect, backoff: { baseMs: 20, maxMs: 100 } });
    track(hub, client);
    const statuses: string[] = [];
    client.onStatus((s) => statuses.push(s));
    client.subscribeNodes(() => undefined);
    client.subscribeJob(jobId, { onJob: () => undefined, onRun: () => undefined });
    await waitFor(() => hub.subscriptions.length >= 4);
    expect(hub.subscriptions).toEqual([
      { type: 'subscribe', topic: 'nodes' },
      { type: 'subscribe', topic: 'job', jobId },
      { type: 'subscribe', topic: 'nodes' },
      { type: 'subscribe', topic: 'job', jobId },
    ]);
    expect(statuses.slice(0, 5)).toEqual(['idle', 'connecting', 'open', 'closed', 'connecting']);
  });

  it('stops and reports a foreign origin apart from an ended session', async () => {
    const hub = await startHub((_send, _message, _connection, ws) => ws.close(4403, 'origin not allowed'));
    let unauthenticated = 0;
    let forbidden = 0;
    const { timers, options } = countingConnections();
    const client = new LiveClient({
      url: hub.url,
      ...options,
      backoff: { baseMs: 10, maxMs: 10 },
      onUnauthenticated: () => (unauthenticated += 1),
      onForbiddenOrigin: () => (forbidden += 1),
    });
    track(hub, client);
    client.subscribeNodes(() => undefined);
    await waitFor(() => forbidden === 1);
    // No reconnect now, and none scheduled for later.
    expect(timers).toEqual({ connects: 1, scheduled: 0 });
    expect(hub.subscriptions).toHaveLength(1);
    expect(unauthenticated).toBe(0);
    expect(client.status).toBe('closed');
  });

  it('stops and reports when the hub refuses the session', async () => {
    const hub = await startHub((_send, _message, _connection, ws) => ws.close(4401, 'unauthenticated'));
    let unauthenticated = 0;
    const { timers, options } = countingConnections();
    const client = new LiveClient({
      url: hub.url,
      ...options,
      backoff: { baseMs: 10, maxMs: 10 },
      onUnauthenticated: () => (unauthenticated += 1),
    });
    track(hub, client);
    client.subscribeNodes(() => undefined);
    await waitFor(() => unauthenticated === 1);
    // No reconnect now, and none scheduled for later.
    expect(timers).toEqual({ connects: 1, scheduled: 0 });
    await waitFor(() => hub.server.clients.size === 0);
    expect(hub.subscriptions).toHaveLength(1);
    expect(client.status).toBe('closed');
  });

  // The hub itself accepts and then closes with 4401/4403; an HTTP refusal comes from a proxy
  // or a network in between, and may heal.
  it('keeps retrying with backoff when an upgrade is refused on the way', async () => {
    const server = createServer((_request, response) => response.writeHead(404).end());
    let refused = 0;
    server.on('upgrade', (_request, socket) => {
      refused += 1;
      // The client may reset the connection as soon as it reads the 401; without a listener the
      // reset was an uncaught ECONNRESET that failed the whole run (seen under load).
      socket.on('error', (err) => expect(err).toMatchObject({ code: 'ECONNRESET' }));
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const client = new LiveClient({
      url: `ws://127.0.0.1:${port}/api/v1/live`,
      connect,
      backoff: { baseMs: 10, maxMs: 20 },
    });
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(() => client.close());
    client.subscribeNodes(() => undefined);
    await waitFor(() => refused >= 3);
    expect(client.status).not.toBe('open');
  });
});
