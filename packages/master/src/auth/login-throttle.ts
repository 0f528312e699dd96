import type { Clock } from '../clock.ts';

export interface LoginThrottleOptions {
  /** Failed logins for one username per window before further attempts are refused. */
  perUser: number;
  /** Failed logins from one address per window (many usernames from one place: spraying). */
  perAddress: number;
  windowMs: number;
}

export const defaultLoginThrottle: LoginThrottleOptions = { perUser: 5, perAddress: 20, windowMs: 15 * 60_000 };

interface Window {
  startedAt: number;
  failures: number;
}

/** How many windows are kept at most: an attacker cycling usernames must not grow memory without bound. */
const MAX_KEYS = 50_000;

/**
 * Fixed-window counting of failed logins, per username and per address, in memory. Each
 * master counts its own: behind a load balancer of N masters an attacker gets up to N times
 * the limit, still far too few guesses against a scrypt hash and a 10-character password.
 */
export class LoginThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly clock: Clock,
    private readonly options: LoginThrottleOptions = defaultLoginThrottle,
  ) {}

  /** Seconds until an attempt for this username from this address may be tried, or 0 if now. */
  retryAfterSec(username: string, address: string): number {
    const nowMs = this.clock.now();
    const waits = [
      this.wait(`u:${username.toLowerCase()}`, this.options.perUser, nowMs),
      this.wait(`a:${address}`, this.options.perAddress, nowMs),
    ];
    return Math.max(...waits);
  }

  failed(username: string, address: string): void {
    const nowMs = this.clock.now();
    this.count(`u:${username.toLowerCase()}`, nowMs);
    this.count(`a:${address}`, nowMs);
  }

  /** A good login clears its username's failures (the address keeps its count: spraying goes on being counted). */
  succeeded(username: string): void {
    this.windows.delete(`u:${username.toLowerCase()}`);
  }

  private wait(key: string, limit: number, nowMs: number): number {
    const window = this.windows.get(key);
    if (window === undefined || nowMs >= window.startedAt + this.options.windowMs) return 0;
    if (window.failures < limit) return 0;
    return Math.max(1, Math.ceil((window.startedAt + this.options.windowMs - nowMs) / 1000));
  }

  private count(key: string, nowMs: number): void {
    const window = this.windows.get(key);
    if (window === undefined || nowMs >= window.startedAt + this.options.windowMs) {
      if (this.windows.size >= MAX_KEYS) this.prune(nowMs);
      this.windows.set(key, { startedAt: nowMs, failures: 1 });
    } else {
      window.failures += 1;
    }
  }

  private prune(nowMs: number): void {
    for (const [key, window] of this.windows) {
      if (nowMs >= window.startedAt + this.options.windowMs) this.windows.delete(key);
    }
    // Still full: all windows are live; forget the oldest rather than grow.
    if (this.windows.size >= MAX_KEYS) {
      const oldest = this.windows.keys().next();
      if (oldest.done !== true) this.windows.delete(oldest.value);
    }
  }
}
