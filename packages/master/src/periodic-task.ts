import type { Logger } from 'pino';
import type { ShutdownSteps } from './shutdown-steps.ts';

/**
 * Runs `work` every `intervalMs`, one pass at a time (a slow pass delays the next, never
 * doubles it); 0 starts no timer (tests call the work by hand). At shutdown the timer stops
 * and the pass under way is awaited, so nothing touches a closed database.
 */
export function startPeriodicTask(options: {
  name: string;
  intervalMs: number;
  work: () => Promise<unknown>;
  logger: Logger;
  shutdown: Pick<ShutdownSteps, 'add'>;
}): void {
  const { name, intervalMs, work, logger } = options;
  if (intervalMs <= 0) return;
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running !== undefined) return;
    running = work()
      .then(() => undefined)
      .catch((err: unknown) => logger.error({ err, task: name }, `${name} failed; trying again`))
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  options.shutdown.add(name, async () => {
    clearInterval(timer);
    await running;
  });
}
