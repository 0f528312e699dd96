import {
  SequencedInbox,
  describeIssues,
  limits,
  shellClientMessageSchema,
  shellCloseCodes,
  type Command,
  type ShellEvent,
  type ShellServerMessage,
} from '@edgestelle/protocol';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Clock } from '../clock.ts';
import { AsciicastRecorder } from './asciicast.ts';

export interface SessionEnd {
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  recording: string;
}

export interface RelaySessionOptions {
  sessionId: string;
  nodeId: string;
  socket: WebSocket;
  clock: Clock;
  logger: Logger;
  sendCommand: (nodeId: string, command: Command) => Promise<void>;
  cols: number;
  rows: number;
  term: string;
  command: string | undefined;
  idleTimeoutMs: number;
  maxSessionMs: number;
  openTimeoutMs: number;
  recordingMaxBytes: number;
  /** Once, when the session is over: stores it (row, recording, audit). */
  onEnd: (end: SessionEnd) => Promise<void>;
}

/** A client this far behind on output is cut off rather than buffered without end. */
const CLIENT_BUFFER_MAX_BYTES = 4 * 1024 * 1024;
/** After the agent's exit, output still missing (a gap that never fills) is waited for this long. */
const EXIT_GAP_GRACE_MS = 2000;
/** After a close is sent, the agent's exit is waited for this long before the session is stored without it. */
const CLOSE_GRACE_MS = 5000;

type Output = Extract<ShellEvent, { kind: 'shell_output' }>;
type Exit = Extract<ShellEvent, { kind: 'shell_exit' }>;

/**
 * One shell session on the master: keystrokes and resizes from the client's WebSocket,
 * numbered and sent to the agent; the agent's output put back in order, recorded and written
 * to the client; idle and length limits; one end, however it comes.
 */
export class RelaySession {
  private inputSeq = 0;
  private readonly output: SequencedInbox<Output>;
  private readonly recorder: AsciicastRecorder;
  private exit: Exit | undefined;
  private closeReason: string | null = null;
  private ended = false;
  private readonly timers: {
    idle?: NodeJS.Timeout;
    max?: NodeJS.Timeout;
    open?: NodeJS.Timeout;
    end?: NodeJS.Timeout;
  } = {};

  constructor(private readonly options: RelaySessionOptions) {
    const now = options.clock.now();
    this.recorder = new AsciicastRecorder(
      { cols: options.cols, rows: options.rows, startedAtMs: now, term: options.term, command: options.command },
      options.recordingMaxBytes,
    );
    this.output = new SequencedInbox<Output>({
      apply: (event) => this.deliver(event),
      onOverflow: () => this.close('output was lost on the way'),
    });
    options.socket.on('message', (data, isBinary) => this.fromClient(data, isBinary));
    options.socket.on('close', () => this.close('the client went away'));
    this.timers.open = setTimeout(
      () => this.fail('no_answer', `the agent on ${options.nodeId} did not answer within ${options.openTimeoutMs} ms`),
      options.openTimeoutMs,
    );
    this.timers.max = setTimeout(
      () => this.close(`the session reached its maximum length (${options.maxSessionMs} ms)`),
      options.maxSessionMs,
    );
    this.touch();
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  fromAgent(event: ShellEvent): void {
    if (this.ended) return;
    switch (event.kind) {
      case 'shell_started':
        clearTimeout(this.timers.open);
        this.send({ type: 'started', sessionId: this.options.sessionId, ptyKind: event.ptyKind });
        return;
      case 'shell_output':
        this.output.receive(event.seq, event);
        return;
      case 'shell_exit':
        this.exit = event;
        clearTimeout(this.timers.end);
        this.timers.end = setTimeout(() => void this.finish(), EXIT_GAP_GRACE_MS);
        if (this.output.applied >= event.seq) void this.finish();
        return;
      case 'shell_refused':
        this.fail(event.code === 'pty_unavailable' ? 'pty_unavailable' : 'refused', `${event.code}: ${event.reason}`);
        return;
    }
  }

  /** Ends the session from this side: the agent hangs up, and its exit is recorded when it comes. */
  close(reason: string): void {
    if (this.ended || this.closeReason !== null) return;
    this.closeReason = reason;
    this.options.logger.info({ sessionId: this.options.sessionId, reason }, 'closing a shell session');
    this.command({
      kind: 'shell_close',
      sessionId: this.options.sessionId,
      reason: reason.slice(0, limits.reasonMaxChars),
    });
    clearTimeout(this.timers.end);
    this.timers.end = setTimeout(() => void this.finish(), CLOSE_GRACE_MS);
  }

  /** Ends the session at once (the master is stopping): the agent is told, its exit not awaited. */
  async abort(reason: string): Promise<void> {
    this.close(reason);
    await this.finish();
  }

  private deliver(event: Output): void {
    this.touch();
    this.recorder.output(this.options.clock.now(), event.data);
    const { socket } = this.options;
    if (socket.readyState === socket.OPEN) {
      if (socket.bufferedAmount > CLIENT_BUFFER_MAX_BYTES) this.close('the client reads output too slowly');
      else socket.send(event.data, { binary: true });
    }
    if (this.exit !== undefined && this.output.applied >= this.exit.seq) void this.finish();
  }

  private fromClient(data: unknown, isBinary: boolean): void {
    if (this.ended || this.closeReason !== null) return;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(String(data));
    const { sessionId } = this.options;
    this.touch();
    if (isBinary) {
      for (let at = 0; at < bytes.byteLength; at += limits.shellDataMaxBytes) {
        const part = new Uint8Array(bytes.subarray(at, at + limits.shellDataMaxBytes));
        this.command({ kind: 'shell_input', sessionId, seq: this.inputSeq++, data: part });
      }
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      json = undefined;
    }
    const parsed = shellClientMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.send({
        type: 'error',
        code: 'invalid_request',
        message: `text frames are JSON {"type":"resize","cols":N,"rows":N}: ${describeIssues(parsed.error)}`,
      });
      return;
    }
    const { cols, rows } = parsed.data;
    this.recorder.resize(this.options.clock.now(), cols, rows);
    this.command({ kind: 'shell_resize', sessionId, seq: this.inputSeq++, cols, rows });
  }

  private touch(): void {
    clearTimeout(this.timers.idle);
    const { idleTimeoutMs } = this.options;
    this.timers.idle = setTimeout(() => this.close(`idle for ${idleTimeoutMs} ms`), idleTimeoutMs);
  }

  /** The session never started: the client hears why, and it is stored as ended. */
  private fail(code: Extract<ShellServerMessage, { type: 'error' }>['code'], message: string): void {
    if (this.ended) return;
    this.send({ type: 'error', code, message });
    this.closeReason ??= message;
    void this.finish();
  }

  private async finish(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    for (const timer of Object.values(this.timers)) clearTimeout(timer);
    const exit = this.exit;
    const reason = this.closeReason ?? exit?.reason ?? null;
    // Stored before the client hears the end: whoever reads the list after the exit finds it.
    try {
      await this.options.onEnd({
        exitCode: exit?.exitCode ?? null,
        signal: exit?.signal ?? null,
        reason,
        recording: this.recorder.finish(this.options.clock.now()),
      });
    } catch (err) {
      this.options.logger.error(
        { err, sessionId: this.options.sessionId },
        'could not store the end of a shell session',
      );
    }
    if (exit !== undefined) {
      this.send({
        type: 'exit',
        exitCode: exit.exitCode,
        signal: exit.signal,
        ...(reason === null ? {} : { reason }),
      });
    }
    this.options.socket.close(
      exit === undefined && this.closeReason !== null ? shellCloseCodes.refused : shellCloseCodes.ended,
      (reason ?? '').slice(0, 120),
    );
  }

  private send(message: ShellServerMessage): void {
    const { socket } = this.options;
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  }

  private command(command: Command): void {
    this.options.sendCommand(this.options.nodeId, command).catch((err: unknown) => {
      this.options.logger.warn(
        { err, sessionId: this.options.sessionId, kind: command.kind },
        'shell command not sent',
      );
    });
  }
}
