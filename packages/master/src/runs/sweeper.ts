import type { Logger } from 'pino';
import type { ShutdownSteps } from '../shutdown-steps.ts';
import type { Dispatcher } from './dispatcher.ts';

const DEFAULT_SWEEP_INTERVAL_MS = 5000;

/** Gives up stuck runs ({@link Dispatcher.sweep}) every `intervalMs`; 0 starts no timer (tests sweep by hand). */
export function startSweeper(options: {
  dispatcher: Pick<Dispatcher, 'sweep'>;
  intervalMs: number | undefined;
  logger: Logger;
  shutdown: Pick<ShutdownSteps, 'add'>;
}): void {
  const { dispatcher, logger } = options;
  const intervalMs = options.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  if (intervalMs <= 0) return;
  const timer = setInterval(() => {
    dispatcher.sweep().catch((err: unknown) => logger.error({ err }, 'sweeping runs failed'));
  }, intervalMs);
  timer.unref();
  options.shutdown.add('sweeper', () => Promise.resolve(clearInterval(timer)));
}
