import { startMaster } from '@edgestelle/fleet-fixture';
import { shellServerMessageSchema } from '@edgestelle/protocol';
import WebSocket from 'ws';
import { percentile } from '../lib/stats.ts';

export interface ShellEchoResult {
  p50Ms: number;
  p99Ms: number;
  samples: number;
  ptyKind: string;
}

/**
 * Keystroke echo round trip through the embedded broker: a WebSocket client types one byte
 * into a shell session and times until the terminal's echo of it comes back (client → master →
 * broker → agent → PTY line discipline → agent → broker → master → client). One keystroke at a
 * time, as a person types; the first 10 are warm-up. The agent gives its terminal as installed
 * from the one-file bundle does: script(1), no native module.
 */
export async function measureShellEcho(samples: number): Promise<ShellEchoResult> {
  await using fleet = await startMaster();
  const { scriptPtySpawner } = await import('@edgestelle/agent');
  await fleet.startAgent('bench-shell', { deps: { loadPty: () => Promise.resolve(scriptPtySpawner()) } });
  const url = `${fleet.url.replace(/^http/, 'ws')}/api/v1/nodes/bench-shell/shell?command=cat`;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${fleet.admin.token}` } });
  let ptyKind = '?';
  let echoed: (() => void) | undefined;
  let received = '';
  const started = new Promise<void>((resolve, reject) => {
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        received += data.toString('latin1');
        echoed?.();
        return;
      }
      const message = shellServerMessageSchema.parse(JSON.parse(data.toString('utf8')));
      if (message.type === 'started') {
        ptyKind = message.ptyKind;
        resolve();
      } else if (message.type === 'error') reject(new Error(message.message));
    });
    socket.once('close', () => reject(new Error('the shell session closed')));
  });
  await started;
  const times: number[] = [];
  for (let i = 0; i < samples + 10; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    received = '';
    const start = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no echo of keystroke ${i} within 5 s`)), 5000);
      echoed = () => {
        if (!received.includes(key)) return;
        clearTimeout(timer);
        resolve();
      };
      socket.send(Buffer.from(key), { binary: true });
    });
    if (i >= 10) times.push(performance.now() - start);
  }
  socket.send(Buffer.from([4]), { binary: true });
  socket.close();
  const round = (ms: number): number => Math.round(ms * 100) / 100;
  return { p50Ms: round(percentile(times, 50)), p99Ms: round(percentile(times, 99)), samples: times.length, ptyKind };
}
