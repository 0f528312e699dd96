export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 300, maxMs: 10_000 };

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential, capped, with full jitter
 * in the upper half so a master restart is not met by every browser in the same millisecond.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
