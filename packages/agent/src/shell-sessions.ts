import { userInfo } from 'node:os';
import type { ShellCommand, ShellEvent } from '@edgestelle/protocol';
import { SequencedInbox, limits } from '@edgestelle/protocol';
import type { Logger } from 'pino';
import type { PtyProcess, PtySpawner } from './pty-spawner.ts';
import { lookupUser } from './user-lookup.ts';

export interface ShellSessionsOptions {
  /** This node's PTY, found once (the executor's). */
  pty: () => Promise<PtySpawner | undefined>;
  publish: (event: ShellEvent) => Promise<void>;
  logger: Logger;
  now: () => number;
  /** Sessions open at once at most; more are refused `too_many_sessions`. */
  maxSessions?: number;
  /** After a close, the session's groups get HUP, then KILL this much later. */
  closeGraceMs?: number;
}

/** Ids of sessions this agent has seen, so a re-delivered open starts nothing twice. */
const REMEMBERED_SESSIONS = 1024;
/** Output publishes awaiting PUBACK per session before the terminal is read no further. */
const OUTPUT_WINDOW = 64;

interface Session {
  readonly term: PtyProcess;
  readonly input: SequencedInbox<Extract<ShellCommand, { kind: 'shell_input' | 'shell_resize' }>>;
  outSeq: number;
  inFlight: number;
  killTimer?: NodeJS.Timeout;
}

/**
 * Interactive terminals for the master's shell sessions: one process on a PTY per session,
 * keystrokes and resizes applied in their sequence order, output published numbered from 0 on
 * the shell topic, then `shell_exit` with the count. Output is not spooled: a session lives
 * only as long as someone is watching it.
 */
export class ShellSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly seen = new Set<string>();
  private readonly maxSessions: number;

  constructor(private readonly options: ShellSessionsOptions) {
    this.maxSessions = options.maxSessions ?? 8;
  }

  get open(): number {
    return this.sessions.size;
  }

  async handle(command: ShellCommand): Promise<void> {
    switch (command.kind) {
      case 'shell_open':
        return this.openSession(command);
      case 'shell_input':
      case 'shell_resize':
        return this.sessions.get(command.sessionId)?.input.receive(command.seq, command);
      case 'shell_close':
        return this.close(command.sessionId, command.reason);
    }
  }

  /** Hangs up every session (the agent is stopping). */
  closeAll(reason: string): void {
    for (const sessionId of this.sessions.keys()) this.close(sessionId, reason);
  }

  private async openSession(command: Extract<ShellCommand, { kind: 'shell_open' }>): Promise<void> {
    const { sessionId } = command;
    const refuse = (code: Extract<ShellEvent, { kind: 'shell_refused' }>['code'], reason: string): Promise<void> =>
      this.send({ kind: 'shell_refused', sessionId, code, reason });
    if (this.seen.has(sessionId)) return refuse('duplicate', 'this session was opened before');
    this.remember(sessionId);
    if (command.deadlineAt < this.options.now()) return refuse('expired', 'the session request came too late');
    if (this.sessions.size >= this.maxSessions) {
      return refuse('too_many_sessions', `this node has ${this.sessions.size} shell sessions open, the most it allows`);
    }
    const pty = await this.options.pty();
    if (pty === undefined) {
      return refuse(
        'pty_unavailable',
        'this agent has no PTY support: @lydell/node-pty did not load and script(1) from util-linux is missing',
      );
    }
    const account = lookupUser(userInfo().username);
    const [file, args] =
      command.command === undefined ? [account?.shell ?? '/bin/sh', ['-l']] : ['/bin/sh', ['-c', command.command]];
    let term: PtyProcess;
    try {
      term = pty.spawn(file, args, {
        cols: command.cols,
        rows: command.rows,
        cwd: account?.home ?? '/',
        env: shellEnvironment(command.term),
      });
    } catch (err) {
      this.options.logger.warn({ err, sessionId }, 'cannot start a shell session');
      return refuse('spawn_failed', `cannot start ${file} on a terminal: ${String(err)}`);
    }
    const session: Session = {
      term,
      outSeq: 0,
      inFlight: 0,
      input: new SequencedInbox({
        apply: (message) => {
          if (message.kind === 'shell_input') term.write(Buffer.from(message.data));
          else term.resize(message.cols, message.rows);
        },
        onOverflow: () => this.close(sessionId, 'keystrokes were lost on the way: the session is closed'),
      }),
    };
    this.sessions.set(sessionId, session);
    this.options.logger.info({ sessionId, file, ptyKind: pty.kind }, 'shell session opened');
    await this.send({ kind: 'shell_started', sessionId, pid: term.pid, ptyKind: pty.kind });
    term.onData((data) => {
      for (let at = 0; at < data.byteLength; at += limits.shellDataMaxBytes) {
        const seq = session.outSeq++;
        session.inFlight += 1;
        if (session.inFlight === OUTPUT_WINDOW) term.pause();
        void this.send({
          kind: 'shell_output',
          sessionId,
          seq,
          data: new Uint8Array(data.subarray(at, at + limits.shellDataMaxBytes)),
        }).finally(() => {
          session.inFlight -= 1;
          if (session.inFlight === OUTPUT_WINDOW / 2) term.resume();
        });
      }
    });
    term.onExit(({ code, signal }) => {
      this.sessions.delete(sessionId);
      clearTimeout(session.killTimer);
      this.options.logger.info({ sessionId, code, signal }, 'shell session ended');
      void this.send({ kind: 'shell_exit', sessionId, seq: session.outSeq, exitCode: code, signal });
    });
  }

  private close(sessionId: string, reason: string): void {
    const session = this.sessions.get(sessionId);
    if (session === undefined || session.killTimer !== undefined) return;
    this.options.logger.info({ sessionId, reason }, 'closing a shell session');
    session.term.signal('SIGHUP');
    session.killTimer = setTimeout(() => session.term.signal('SIGKILL'), this.options.closeGraceMs ?? 2000);
  }

  private remember(sessionId: string): void {
    this.seen.add(sessionId);
    if (this.seen.size > REMEMBERED_SESSIONS) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  private send(event: ShellEvent): Promise<void> {
    return this.options.publish(event).catch((err: unknown) => {
      // The master hears nothing more of this session; its idle timeout closes it there.
      this.options.logger.debug({ err, kind: event.kind }, 'shell event not published');
    });
  }
}

/** The agent's environment without its own settings (its node key among them). */
function shellEnvironment(term: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('EDGESTELLE_')) env[name] = value;
  }
  return { ...env, TERM: term };
}
