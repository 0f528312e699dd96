import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { errnoCode } from './fs-errors.ts';
import { signalGroup } from './process-group.ts';
import type { PtyExit, PtyOptions, PtyProcess, PtySpawner } from './pty-spawner.ts';

/**
 * A terminal without a native module: `script(1)` (util-linux; on Debian and Ubuntu it is in
 * the essential bsdutils package) opens the pseudo-terminal and copies bytes between it and its
 * pipes, and `-e` hands back the child's exit status. Node cannot call ioctl, so the window size
 * is set with `stty` on the terminal: first inside the session, before the program starts, then
 * from outside with `stty -F`, which makes the kernel send SIGWINCH to the foreground group.
 */
export function scriptPtySpawner(scriptPath = 'script'): PtySpawner {
  return { kind: 'script', spawn: (file, args, options) => spawnScriptPty(scriptPath, file, args, options) };
}

/** Quotes one word for `/bin/sh`. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function sizeArgs(cols: number, rows: number): string[] {
  return ['rows', String(Math.max(1, Math.floor(rows))), 'cols', String(Math.max(1, Math.floor(cols)))];
}

function spawnScriptPty(scriptPath: string, file: string, args: string[], options: PtyOptions): PtyProcess {
  // script runs its -c string with $SHELL, which may not be a POSIX shell: /bin/sh runs it, and
  // the program gets the SHELL it would have had.
  const shell = options.env['SHELL'];
  const restoreShell = shell === undefined ? 'unset SHELL; ' : `SHELL=${shellQuote(shell)} `;
  const inner = `stty ${sizeArgs(options.cols, options.rows).join(' ')} 2>/dev/null; ${restoreShell}exec ${[file, ...args].map(shellQuote).join(' ')}`;
  const child = spawn(scriptPath, ['-q', '-e', '-c', inner, '/dev/null'], {
    cwd: options.cwd,
    env: { TERM: 'xterm-256color', ...options.env, SHELL: '/bin/sh' },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
  });
  // A failed spawn also emits 'error'; the throw below is how it is reported.
  child.on('error', () => undefined);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${scriptPath}`);
  const dataListeners: ((data: Buffer) => void)[] = [];
  const deliver = (data: Buffer): void => {
    for (const listener of dataListeners) listener(data);
  };
  child.stdout.on('data', deliver);
  // script's own complaints belong on the same screen as the session.
  child.stderr.on('data', deliver);
  // A write after the session ended fails with EPIPE; the exit is reported by 'close'.
  child.stdin.on('error', () => undefined);
  let exit: PtyExit | undefined;
  const exitListeners: ((exit: PtyExit) => void)[] = [];
  child.once('exit', (code, signal) => {
    exit = { code, signal };
  });
  child.once('close', (code, signal) => {
    const result = exit ?? { code, signal };
    for (const listener of exitListeners) listener(result);
  });
  let terminal: string | undefined;
  let program: number | undefined;
  let wanted = { cols: options.cols, rows: options.rows };
  let applied = wanted;
  // Keystrokes typed after a resize must find the new size: writes and resizes share one queue.
  let queue: Promise<unknown> = Promise.resolve();
  const applySize = async (): Promise<void> => {
    const size = wanted;
    if (size.cols === applied.cols && size.rows === applied.rows) return;
    // script forks its child a moment after it starts: look for its terminal a few times.
    for (let attempt = 0; terminal === undefined && attempt < 40 && exit === undefined; attempt++) {
      terminal = await slaveTerminal(pid);
      if (terminal === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const path = terminal;
    if (path === undefined || exit !== undefined) return;
    await new Promise((resolve) => execFile('stty', ['-F', path, ...sizeArgs(size.cols, size.rows)], resolve));
    applied = size;
  };
  return {
    pid,
    write: (data) => {
      queue = queue.then(() => {
        if (child.stdin.writable) child.stdin.write(data);
      });
    },
    pause: () => {
      child.stdout.pause();
      child.stderr.pause();
    },
    resume: () => {
      child.stdout.resume();
      child.stderr.resume();
    },
    signal: (signal) => {
      // The program leads its own session (script calls setsid), so its group is apart from script's.
      program ??= programPid(pid);
      const reachedProgram = program !== undefined && signalGroup(program, signal);
      return signalGroup(pid, signal) || reachedProgram;
    },
    resize: (cols, rows) => {
      // Sizes that come quickly collapse into the last one.
      wanted = { cols, rows };
      queue = queue.then(applySize);
    },
    onData: (listener) => {
      dataListeners.push(listener);
    },
    onExit: (listener) => {
      exitListeners.push(listener);
    },
  };
}

/** script's child, which runs the program; read synchronously so a stop can signal it at once. */
function programPid(scriptPid: number): number | undefined {
  let children: string;
  try {
    children = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ESRCH') return undefined;
    throw err;
  }
  const first = Number(children.trim().split(' ')[0]);
  return Number.isInteger(first) && first > 0 ? first : undefined;
}

/**
 * The terminal of script's child: its controlling tty from /proc/PID/stat (field tty_nr), a
 * Unix98 pty (majors 136–143) whose number is split over major and minor.
 */
export async function slaveTerminal(scriptPid: number): Promise<string | undefined> {
  try {
    const children = (await readFile(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8')).trim().split(' ');
    const child = children[0];
    if (child === undefined || child === '') return undefined;
    const stat = await readFile(`/proc/${child}/stat`, 'utf8');
    const ttyNr = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[4]);
    const major = (ttyNr >> 8) & 0xfff;
    const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
    if (major < 136 || major > 143) return undefined;
    return `/dev/pts/${(major - 136) * 256 + minor}`;
  } catch {
    // ENOENT: the process ended between the reads; the caller tries again on the next resize.
    return undefined;
  }
}

export type ScriptProbe = { ok: true; spawner: PtySpawner } | { ok: false; reason: string };

/**
 * One trial session proves what this node's `script` and `stty` can do: busybox's script has
 * no `-e` (so no exit status), and an old util-linux may not take a pipe for stdin.
 */
export async function probeScriptPty(scriptPath = 'script', timeoutMs = 5000): Promise<ScriptProbe> {
  const spawner = scriptPtySpawner(scriptPath);
  let term: PtyProcess;
  try {
    term = spawner.spawn('/bin/sh', ['-c', 'stty size; exit 3'], { cols: 9, rows: 7, cwd: '/', env: process.env });
  } catch (err) {
    return { ok: false, reason: `script(1) does not start: ${String(err)}` };
  }
  const chunks: Buffer[] = [];
  term.onData((data) => chunks.push(data));
  const result = await new Promise<PtyExit | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    term.onExit((exit) => {
      clearTimeout(timer);
      resolve(exit);
    });
  });
  if (result === 'timeout') {
    process.kill(-term.pid, 'SIGKILL');
    return { ok: false, reason: `script(1) gave no answer within ${timeoutMs} ms` };
  }
  const output = Buffer.concat(chunks).toString('utf8');
  if (result.code !== 3 || !output.includes('7 9')) {
    return {
      ok: false,
      reason: `script(1) from util-linux (with -e) and stty are needed; a trial session exited ${String(result.code ?? result.signal)} with ${JSON.stringify(output.slice(0, 200))}`,
    };
  }
  return { ok: true, spawner };
}
