import { newId, type ShellEvent } from '@edgestelle/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { until } from '../test/test-master.ts';
import type { PtySpawner } from './pty-spawner.ts';
import { scriptPtySpawner } from './script-pty.ts';
import { ShellSessions } from './shell-sessions.ts';

const logger = pino({ level: 'silent' });
const bytes = (text: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(text));

function sessions(pty: PtySpawner | undefined) {
  const events: ShellEvent[] = [];
  const shells = new ShellSessions({
    pty: () => Promise.resolve(pty),
    publish: (event) => {
      events.push(event);
      return Promise.resolve();
    },
    logger,
    now: Date.now,
  });
  const output = (sessionId: string): string =>
    Buffer.concat(
      events
        .filter((e) => e.kind === 'shell_output' && e.sessionId === sessionId)
        .sort((a, b) => ('seq' in a && 'seq' in b ? a.seq - b.seq : 0))
        .map((e) => ('data' in e ? e.data : new Uint8Array())),
    ).toString('utf8');
  return { shells, events, output };
}

describe('shell sessions on the agent', () => {
  it('applies keystrokes and resizes in sequence order, once each, and reports the exit code', async () => {
    const { shells, events, output } = sessions(scriptPtySpawner());
    const sessionId = newId();
    const open = {
      kind: 'shell_open',
      sessionId,
      cols: 80,
      rows: 24,
      term: 'xterm',
      deadlineAt: Date.now() + 10_000,
    } as const;
    await shells.handle({ ...open, command: 'read a; read b; stty size; echo "got $a $b"; exit 3' });
    expect(events[0]).toMatchObject({ kind: 'shell_started', sessionId, ptyKind: 'script' });
    // Sent: the resize 0, keystrokes 1 and 2. Delivered: 2, 0, 1, 1 again.
    await shells.handle({ kind: 'shell_input', sessionId, seq: 2, data: bytes('second\n') });
    await shells.handle({ kind: 'shell_resize', sessionId, seq: 0, cols: 101, rows: 31 });
    await shells.handle({ kind: 'shell_input', sessionId, seq: 1, data: bytes('first\n') });
    await shells.handle({ kind: 'shell_input', sessionId, seq: 1, data: bytes('again\n') });
    await until(() => events.some((e) => e.kind === 'shell_exit'), 'the session to end', 10_000);
    const exit = events.find((e) => e.kind === 'shell_exit');
    expect(exit).toMatchObject({ exitCode: 3, signal: null });
    expect(output(sessionId)).toContain('31 101\r\ngot first second');
    expect(output(sessionId)).not.toContain('again');
    const seqs = events.flatMap((e) => (e.kind === 'shell_output' ? [e.seq] : []));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(exit).toMatchObject({ seq: seqs.length });
    expect(shells.open).toBe(0);
  });

  it('hangs up on close, and refuses a repeated, late or PTY-less open with a named code', async () => {
    const { shells, events } = sessions(scriptPtySpawner());
    const sessionId = newId();
    const open = {
      kind: 'shell_open',
      sessionId,
      cols: 80,
      rows: 24,
      term: 'xterm',
      deadlineAt: Date.now() + 10_000,
    } as const;
    await shells.handle(open);
    await shells.handle({ kind: 'shell_close', sessionId, reason: 'test' });
    await until(() => events.some((e) => e.kind === 'shell_exit'), 'the hang-up', 10_000);
    await shells.handle(open);
    await shells.handle({ ...open, sessionId: newId(), deadlineAt: Date.now() - 1 });
    expect(events.filter((e) => e.kind === 'shell_refused').map((e) => 'code' in e && e.code)).toEqual([
      'duplicate',
      'expired',
    ]);
    const none = sessions(undefined);
    await none.shells.handle({ ...open, sessionId: newId() });
    expect(none.events).toMatchObject([{ kind: 'shell_refused', code: 'pty_unavailable' }]);
  });
});
