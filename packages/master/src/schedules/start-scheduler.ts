import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import type { MasterEvents } from '../events.ts';
import { startPeriodicTask } from '../periodic-task.ts';
import type { Dispatcher } from '../runs/dispatcher.ts';
import type { ScriptLibrary } from '../scripts/script-library.ts';
import type { ShutdownSteps } from '../shutdown-steps.ts';
import { ScheduleFiring } from './schedule-firing.ts';
import { ScheduleService } from './schedule-service.ts';

const DEFAULT_TICK_MS = 1000;
/** Fire records are kept 90 days. */
const FIRES_KEPT_MS = 90 * 24 * 3600_000;

/**
 * The schedules' service and their firing, looked at every second. Every master ticks; the
 * claim in each fire lets only one of them fire a cron time. Missed fires (the master was
 * down) are found by the first tick after the start.
 */
export function startScheduler(options: {
  store: Store;
  dispatcher: Dispatcher;
  events: MasterEvents;
  clock: Clock;
  audit: AuditLog;
  scripts: ScriptLibrary;
  logger: Logger;
  tickMs: number | undefined;
  shutdown: Pick<ShutdownSteps, 'add'>;
}): { schedules: ScheduleService; firing: ScheduleFiring } {
  const tickMs = options.tickMs ?? DEFAULT_TICK_MS;
  const firing = new ScheduleFiring(options);
  const schedules = new ScheduleService({ ...options, firing });
  startPeriodicTask({
    name: 'scheduler',
    intervalMs: tickMs,
    work: () => firing.tick(),
    logger: options.logger,
    shutdown: options.shutdown,
  });
  startPeriodicTask({
    name: 'schedule fire pruning',
    intervalMs: tickMs > 0 ? 3600_000 : 0,
    work: () => firing.prune(FIRES_KEPT_MS),
    logger: options.logger,
    shutdown: options.shutdown,
  });
  return { schedules, firing };
}
