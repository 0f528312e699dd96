// The benchmark's WebSocket client, in its own thread so that reading does not compete with
// the master for the event loop: subscribes to the given runs and reports the chunk bytes it
// received and when the last arrived. Plain JavaScript: a worker does not inherit tsx's loader
// on Node 20.
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

const { url, token, runIds } = workerData;
let pushedBytes = 0;
let pushedAt = 0;
let closeCode = null;
const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/live`, { headers: { authorization: `Bearer ${token}` } });
ws.on('open', () => {
  for (const runId of runIds) ws.send(JSON.stringify({ type: 'subscribe', topic: 'run', runId, fromSeq: 0 }));
});
ws.on('message', (raw) => {
  const frame = JSON.parse(raw.toString('utf8'));
  if (frame.type !== 'chunk') return;
  pushedBytes += Buffer.byteLength(frame.chunk.data, 'base64');
  pushedAt = Date.now();
});
ws.on('close', (code) => (closeCode = code));
parentPort.on('message', (message) => {
  if (message === 'report') parentPort.postMessage({ kind: 'report', pushedBytes, pushedAt, closeCode });
  if (message === 'close') {
    ws.close();
    parentPort.close();
  }
});
