import { liveServerMessageSchema, type LiveClientMessage, type LiveServerMessage } from '@edgestelle/protocol';
import WebSocket from 'ws';

export interface LiveClient {
  readonly socket: WebSocket;
  readonly messages: LiveServerMessage[];
  send(message: LiveClientMessage): void;
  /** Bytes of a run's chunks in arrival order, checking each seq follows the last. */
  output(runId: string): { bytes: Buffer; nextSeq: number; gapsOrDuplicates: number };
  close(): Promise<void>;
}

export async function openLive(url: string, headers: Record<string, string>): Promise<LiveClient> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live`, { headers });
  const messages: LiveServerMessage[] = [];
  socket.on('message', (data: Buffer) =>
    messages.push(liveServerMessageSchema.parse(JSON.parse(data.toString('utf8')))),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`live upgrade refused: HTTP ${res.statusCode}`)),
    );
  });
  return {
    socket,
    messages,
    send: (message) => socket.send(JSON.stringify(message)),
    output(runId) {
      const parts: Buffer[] = [];
      let nextSeq = -1;
      let gapsOrDuplicates = 0;
      for (const m of messages) {
        if (m.type !== 'chunk' || m.chunk.runId !== runId) continue;
        if (nextSeq !== -1 && m.chunk.seq !== nextSeq) gapsOrDuplicates += 1;
        nextSeq = m.chunk.seq + 1;
        parts.push(Buffer.from(m.chunk.data, 'base64'));
      }
      return { bytes: Buffer.concat(parts), nextSeq: Math.max(nextSeq, 0), gapsOrDuplicates };
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.once('close', () => resolve());
        socket.close();
      }),
  };
}

/** Opens the live hub and waits for the server to close it: the close code (4401, 4403, …). */
export async function liveCloseCode(url: string, headers: Record<string, string>): Promise<number> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live`, { headers });
  return new Promise<number>((resolve, reject) => {
    socket.once('close', (code) => resolve(code));
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`live upgrade refused: HTTP ${res.statusCode}`)),
    );
  });
}
