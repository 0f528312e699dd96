import type { Logger } from 'pino';
import type { AuthService } from '../auth/auth-service.ts';
import type { ShutdownSteps } from '../shutdown-steps.ts';
import type { LiveHub } from './live-hub.ts';

/** Another master's revocations reach this one's open connections within this interval. */
const DEFAULT_RECHECK_INTERVAL_MS = 30_000;

/**
 * Open live connections have their credentials checked again whenever this master revokes
 * some, and on a timer for revocations made by another master sharing the database.
 */
export function startCredentialRecheck(options: {
  hub: Pick<LiveHub, 'recheckCredentials'>;
  auth: Pick<AuthService, 'onRevocation'>;
  intervalMs: number | undefined;
  logger: Logger;
  shutdown: Pick<ShutdownSteps, 'add'>;
}): void {
  const { hub, logger } = options;
  const recheck = (): void => {
    hub.recheckCredentials().catch((err: unknown) => logger.warn({ err }, 'live: checking credentials failed'));
  };
  options.auth.onRevocation(recheck);
  const timer = setInterval(recheck, options.intervalMs ?? DEFAULT_RECHECK_INTERVAL_MS);
  timer.unref();
  options.shutdown.add('live credentials', () => Promise.resolve(clearInterval(timer)));
}
