import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { warnAtMost, type Warn } from '../warn-at-most.ts';

/** Why a connection was closed before its CONNACK (the `reason` label on /metrics). */
export type UnauthenticatedRefusal = 'limit' | 'too_large' | 'not_connect';

export interface UnauthenticatedStats {
  /** Sockets accepted and not yet answered with a successful CONNACK. */
  readonly current: number;
  readonly refused: Readonly<Record<UnauthenticatedRefusal, number>>;
  /** Closed because CONNECT and authentication did not finish within the deadline. */
  readonly timedOut: number;
}

export interface Admission {
  /** A successful CONNACK went out: the socket leaves the count and its deadline. */
  authenticated(): void;
}

/** A refusal is logged at warn at most this often; each one is counted and logged at debug. */
const WARN_INTERVAL_MS = 10_000;

/**
 * Keeps the sockets that have not logged in bounded in number and in time: past `max` a new
 * socket is closed as it is accepted, and one that has no CONNACK `deadlineMs` after it was
 * accepted (TLS handshake, CONNECT and the credential check all included) is closed then.
 * Authenticated connections are not counted, so a flood never closes a node's session.
 */
export class UnauthenticatedConnections {
  private pending = 0;
  private expired = 0;
  private readonly refusals: Record<UnauthenticatedRefusal, number> = { limit: 0, too_large: 0, not_connect: 0 };
  private readonly warn: Warn;

  constructor(
    private readonly limits: { max: number; deadlineMs: number },
    logger: Logger,
  ) {
    this.warn = warnAtMost(logger, WARN_INTERVAL_MS);
  }

  get stats(): UnauthenticatedStats {
    return { current: this.pending, refused: { ...this.refusals }, timedOut: this.expired };
  }

  /** Counts `socket` in, or closes it (undefined) when `max` sockets are already waiting. */
  admit(socket: Socket): Admission | undefined {
    if (this.pending >= this.limits.max) {
      socket.destroy();
      this.refused('limit', { remoteAddress: socket.remoteAddress, max: this.limits.max });
      return undefined;
    }
    this.pending += 1;
    let waiting = true;
    const release = (): void => {
      if (!waiting) return;
      waiting = false;
      this.pending -= 1;
      clearTimeout(deadline);
    };
    const deadline = setTimeout(() => {
      release();
      this.expired += 1;
      this.note('timeout', { remoteAddress: socket.remoteAddress, deadlineMs: this.limits.deadlineMs });
      socket.destroy();
    }, this.limits.deadlineMs);
    deadline.unref();
    socket.once('close', release);
    return { authenticated: release };
  }

  /** Counts a connection closed before its CONNACK for `reason` (the caller closes it). */
  refused(reason: UnauthenticatedRefusal, context: Record<string, unknown>): void {
    this.refusals[reason] += 1;
    this.note(reason, context);
  }

  private note(reason: UnauthenticatedRefusal | 'timeout', context: Record<string, unknown>): void {
    this.warn({ reason, ...context, ...this.stats }, `closed an unauthenticated MQTT connection (${reason})`);
  }
}
