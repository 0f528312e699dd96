import { describe, expect, it } from 'vitest';
import { until } from '../test/test-master.ts';
import type { PtyExit, PtyProcess } from './pty-spawner.ts';
import { probeScriptPty, scriptPtySpawner, shellQuote } from './script-pty.ts';

interface Session {
  term: PtyProcess;
  output: () => string;
  exited: Promise<PtyExit>;
}

function open(file: string, args: string[], cols = 80, rows = 24): Session {
  const term = scriptPtySpawner().spawn(file, args, {
    cols,
    rows,
    cwd: '/',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PS1: '$ ', TERM: 'xterm' },
  });
  let text = '';
  term.onData((data) => {
    text += data.toString('utf8');
  });
  const exited = new Promise<PtyExit>((resolve) => term.onExit(resolve));
  return { term, output: () => text, exited };
}

describe('script(1) as the PTY', () => {
  it('proves itself on this node, and names what is missing where it cannot', async () => {
    expect(await probeScriptPty()).toMatchObject({ ok: true });
    const missing = await probeScriptPty('/nonexistent/script');
    expect(missing.ok).toBe(false);
  });

  it('gives a real terminal: echo, the starting size, a resize, Ctrl-C, and the exit code', async () => {
    const s = open('/bin/sh', ['-i'], 100, 30);
    s.term.write('tty; stty size\n');
    await until(() => /\/dev\/pts\/\d+\r\n30 100\r\n/.test(s.output()), 'the tty and the starting size');
    s.term.resize(132, 43);
    s.term.write('sleep 30\n');
    await until(() => s.output().includes('sleep 30\r\n'), 'the echo of the typed line');
    s.term.write(Buffer.from([3]));
    await until(() => s.output().includes('^C'), 'Ctrl-C echoed by the line discipline');
    s.term.write('stty size\n');
    await until(() => s.output().includes('43 132'), 'the new size');
    s.term.write('exit 7\n');
    expect(await s.exited).toEqual({ code: 7, signal: null });
  });

  it('signals the program with SIGWINCH on a resize', async () => {
    const s = open('/bin/sh', [
      '-c',
      `trap 'stty size; exit 0' WINCH; echo ready; i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done; exit 9`,
    ]);
    await until(() => s.output().includes('ready'), 'the trap set');
    s.term.resize(90, 33);
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.output()).toContain('33 90');
  });

  it('passes arguments through the shell untouched', async () => {
    const odd = `it's "quoted" $HOME \`x\``;
    const s = open('/bin/printf', ['%s|', odd, '']);
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.output()).toBe(`${odd}||`);
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });

  it('ends with Ctrl-D on an interactive shell, full-screen escape sequences passing through as bytes', async () => {
    const s = open('/bin/sh', ['-i']);
    s.term.write("printf '\\033[?1049h\\033[2J'\n");
    await until(() => s.output().includes('\x1b[?1049h\x1b[2J'), 'the alternate screen sequence');
    s.term.write(Buffer.from([4]));
    expect(await s.exited).toEqual({ code: 0, signal: null });
  });
});
