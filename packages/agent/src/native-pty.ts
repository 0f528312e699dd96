import { constants } from 'node:os';
import type * as NodePty from '@lydell/node-pty';
import { signalGroup } from './process-group.ts';
import type { PtySpawner } from './pty-spawner.ts';

const signalNames = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

interface ByteWriter {
  write(data: Buffer | string): void;
}

/** node-pty, adapted to `PtySpawner`; undefined when its native module does not load. */
export async function loadNativePty(onFailure: (err: unknown) => void): Promise<PtySpawner | undefined> {
  let loaded: typeof NodePty;
  try {
    loaded = await import('@lydell/node-pty');
  } catch (err) {
    onFailure(err);
    return undefined;
  }
  return {
    kind: 'native',
    spawn(file, args, options) {
      const term = loaded.spawn(file, args, {
        name: options.env['TERM'] ?? 'xterm-256color',
        cols: options.cols,
        rows: options.rows,
        cwd: options.cwd,
        env: options.env,
        encoding: null,
        ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
      });
      // On Unix node-pty writes to a socket, which takes bytes as they are; its typings say string.
      const bytes: ByteWriter = term;
      return {
        pid: term.pid,
        write: (data) => bytes.write(data),
        resize: (cols, rows) => term.resize(cols, rows),
        signal: (signal) => signalGroup(term.pid, signal),
        pause: () => term.pause(),
        resume: () => term.resume(),
        // With encoding null node-pty hands over Buffers, whatever its typings say.
        onData: (listener) =>
          term.onData((data: string | Uint8Array) =>
            listener(
              typeof data === 'string'
                ? Buffer.from(data, 'utf8')
                : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
            ),
          ),
        onExit: (listener) =>
          term.onExit(({ exitCode, signal }) => {
            const name = signal === undefined || signal === 0 ? null : (signalNames.get(signal) ?? `SIG${signal}`);
            listener({ code: name === null ? exitCode : null, signal: name });
          }),
      };
    },
  };
}
