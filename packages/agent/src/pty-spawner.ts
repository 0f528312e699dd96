/** What a terminal-giving back end offers; `pty.ts` picks the one this node has. */

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
