import {
  describeIssues,
  liveCloseCodes,
  liveServerMessageSchema,
  type LiveClientMessage,
  type LiveServerMessage,
} from '@edgestelle/protocol';
import WebSocket from 'ws';
import { unreachable } from './api-client.ts';
import { CliError, CliErrorCode } from './cli-error.ts';

export interface LiveSessionOptions {
  baseUrl: string;
  token: string;
  /** Called on every (re)connect: subscribe here, from where the caller got to. */
  onOpen: (send: (message: LiveClientMessage) => void) => void;
  onMessage: (message: LiveServerMessage) => void;
  /** The session gave up: the error says why (auth, master gone for good, a bad message). */
  onFatal: (err: CliError) => void;
  /** The connection dropped and a new one is tried after `delayMs`. */
  onReconnecting?: (reason: string, delayMs: number) => void;
  /** Reconnect attempts in a row before giving up. */
  maxReconnects?: number;
}

const RECONNECT_BASE_MS = 250;
const RECONNECT_MAX_MS = 4000;

/**
 * One WebSocket to the master's live hub (`/api/v1/live`) that reconnects after a drop, a
 * "too slow" close (4408) or a master restart (4503): the hub replays from any seq, so the
 * caller re-subscribes from its own position in `onOpen` and nothing is lost or doubled.
 * Node 20 has no global WebSocket, hence `ws`.
 */
export class LiveSession {
  private socket: WebSocket | null = null;
  private closedByUs = false;
  private failures = 0;
  private everOpened = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: LiveSessionOptions) {}

  get url(): string {
    return `${this.options.baseUrl.replace(/^http/, 'ws')}/api/v1/live`;
  }

  /** Resolves once the first connection is open; rejects with the reason it could not be. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.connect(resolve, reject);
    });
  }

  close(): void {
    this.closedByUs = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.socket?.close(1000, 'done');
    this.socket = null;
  }

  private connect(onFirstOpen?: () => void, onFirstFailure?: (err: CliError) => void): void {
    const socket = new WebSocket(this.url, { headers: { authorization: `Bearer ${this.options.token}` } });
    this.socket = socket;
    let failure: CliError | null = null;
    socket.on('unexpected-response', (_request, response) => {
      failure =
        response.statusCode === 401
          ? new CliError(
              CliErrorCode.unauthenticated,
              'the live hub refused the token: log in again with edgestelle login (or set EDGESTELLE_TOKEN)',
            )
          : response.statusCode === 403
            ? new CliError(CliErrorCode.forbidden, 'the live hub refused this client (HTTP 403)')
            : new CliError(CliErrorCode.unavailable, `the live hub answered HTTP ${response.statusCode ?? '?'}`);
      response.resume();
      socket.terminate();
    });
    socket.on('error', (err) => {
      failure ??= unreachable(this.options.baseUrl, err);
    });
    socket.on('open', () => {
      this.failures = 0;
      this.everOpened = true;
      onFirstOpen?.();
      this.options.onOpen((message) => socket.send(JSON.stringify(message)));
    });
    socket.on('message', (data, isBinary) => {
      if (socket !== this.socket) return;
      const parsed = isBinary ? null : parseServerMessage(rawText(data));
      if (parsed instanceof CliError || parsed === null) {
        this.fail(parsed ?? new CliError(CliErrorCode.badResponse, 'the live hub sent a binary frame'));
        return;
      }
      this.options.onMessage(parsed);
    });
    socket.on('close', (code) => {
      if (this.closedByUs || socket !== this.socket) return;
      if (!this.everOpened) {
        // Never connected at all: that is the answer to start(), not a reason to retry.
        this.socket = null;
        onFirstFailure?.(
          failure ?? new CliError(CliErrorCode.unavailable, `the live hub at ${this.url} closed (${code})`),
        );
        return;
      }
      if (code === liveCloseCodes.unauthenticated) {
        this.fail(new CliError(CliErrorCode.unauthenticated, 'the live hub closed the session: log in again'));
        return;
      }
      if (failure?.code === CliErrorCode.unauthenticated || failure?.code === CliErrorCode.forbidden) {
        this.fail(failure);
        return;
      }
      this.failures += 1;
      if (this.failures > (this.options.maxReconnects ?? 10)) {
        this.fail(
          failure ?? new CliError(CliErrorCode.unavailable, `lost the live hub at ${this.url} (close ${code})`),
        );
        return;
      }
      const delayMs = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** (this.failures - 1));
      this.options.onReconnecting?.(failure?.message ?? `close ${code}`, delayMs);
      this.retryTimer = setTimeout(() => this.connect(), delayMs);
    });
  }

  private fail(err: CliError): void {
    this.close();
    this.options.onFatal(err);
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(new Uint8Array(data)).toString('utf8');
}

function parseServerMessage(text: string): LiveServerMessage | CliError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return new CliError(CliErrorCode.badResponse, 'the live hub sent a frame that is not JSON', { cause: err });
  }
  const parsed = liveServerMessageSchema.safeParse(json);
  if (!parsed.success) {
    return new CliError(
      CliErrorCode.badResponse,
      `the live hub sent a message this CLI does not understand (${describeIssues(parsed.error, 3)})`,
    );
  }
  return parsed.data;
}
