import type { BaseLogger } from 'pino';

export type Warn = (fields: Record<string, unknown>, message: string) => void;

/**
 * For events an attacker can repeat at will (refused connections): every one is logged at debug,
 * and at warn only once per `intervalMs`, so that a flood does not become a flood of log lines.
 * The counts belong on /metrics.
 */
export function warnAtMost(logger: Pick<BaseLogger, 'debug' | 'warn'>, intervalMs: number): Warn {
  let lastAt = -Infinity;
  return (fields, message) => {
    logger.debug(fields, message);
    const now = performance.now();
    if (now - lastAt < intervalMs) return;
    lastAt = now;
    logger.warn(fields, `${message} (at most one such line every ${intervalMs / 1000} s; totals on /metrics)`);
  };
}
