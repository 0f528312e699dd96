import type { Logger } from 'pino';
import { loadNativePty } from './native-pty.ts';
import { probeScriptPty } from './script-pty.ts';

/** How this node gives a process a terminal: node-pty's native module, or `script(1)` from util-linux. */
export type PtyKind = 'native' | 'script';

export interface PtyOptions {
  cols: number;
  rows: number;
  cwd: string;
  env: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

export interface PtyExit {
  code: number | null;
  signal: string | null;
}

/** A process on a terminal; `pid` leads the process group that stopping it signals. */
export interface PtyProcess {
  readonly pid: number;
  write(data: Buffer | string): void;
  resize(cols: number, rows: number): void;
  /** Stops reading the terminal (the program blocks once its buffer is full) until resume(). */
  pause(): void;
  resume(): void;
  /** Signals every process group the session started with; false once they are all gone. */
  signal(signal: NodeJS.Signals | 0): boolean;
  onData(listener: (data: Buffer) => void): void;
  /** Once, after the process exited and its output was all delivered. */
  onExit(listener: (exit: PtyExit) => void): void;
}

export interface PtySpawner {
  readonly kind: PtyKind;
  /** Throws when the process cannot start. */
  spawn(file: string, args: string[], options: PtyOptions): PtyProcess;
}

/**
 * node-pty when its native module loads (it may be missing, or built for another platform, as
 * in the one-file bundle); otherwise `script(1)`, if a trial session on this node proves it
 * works. Undefined when neither does: PTY requests are then refused and the agent carries on.
 */
export async function loadPty(logger: Logger): Promise<PtySpawner | undefined> {
  const native = await loadNativePty((err) => logger.info({ err }, 'node-pty is not available here'));
  if (native !== undefined) return native;
  const script = await probeScriptPty();
  if (script.ok) {
    logger.info('PTY sessions use script(1): node-pty is not available');
    return script.spawner;
  }
  logger.info({ reason: script.reason }, 'no PTY support here: PTY runs and shell sessions will be refused');
  return undefined;
}
