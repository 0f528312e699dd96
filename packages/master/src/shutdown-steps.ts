import type { Logger } from 'pino';

/**
 * What the master runs at shutdown, one named step per part, in the reverse of the order the
 * parts were started: a part stops before anything it uses. A step that fails is logged and
 * the next one still runs. Each step runs once: a second run() finds nothing left to stop.
 */
export class ShutdownSteps {
  private readonly steps: Array<[step: string, cleanup: () => Promise<void>]> = [];

  constructor(private readonly logger: Logger) {}

  add(step: string, cleanup: () => Promise<void>): void {
    this.steps.push([step, cleanup]);
  }

  async run(): Promise<void> {
    for (const [step, cleanup] of this.steps.splice(0).reverse()) {
      try {
        this.logger.debug({ step }, 'shutting down');
        await cleanup();
      } catch (err) {
        this.logger.warn({ err }, 'error while shutting down');
      }
    }
  }
}
