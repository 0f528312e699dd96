import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type BrokerKind, type DbKind, startMaster } from '@edgestelle/fleet-fixture';

const shutdownLine = z.object({ msg: z.literal('shutting down'), step: z.string() });

/** A debug logger that keeps the step of every "shutting down" line, in order. */
function stepRecorder(): { logger: pino.Logger; steps: string[] } {
  const steps: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(line: Buffer, _encoding, done) {
        const parsed = shutdownLine.safeParse(JSON.parse(line.toString()));
        if (parsed.success) steps.push(parsed.data.step);
        done();
      },
    }),
  );
  return { logger, steps };
}

// The order is what keeps shutdown from hanging: shell sessions and the live hub before the HTTP
// server (they end its open WebSockets), the scheduler and webhooks after it (a request may use them), the MQTT
// link (then ingest's last batch) before the dispatcher, the dispatcher before the broker and
// the database.
/** What a request may use, so it stops after the HTTP server: the scheduler and the webhooks. */
const AFTER_HTTP = [
  'webhook delivery pruning',
  'webhook event scan',
  'webhook delivery pass',
  'webhook deliveries',
  'webhook events',
  'schedule fire pruning',
  'scheduler',
];

const cases: ReadonlyArray<readonly [DbKind, BrokerKind, number, readonly string[]]> = [
  [
    'sqlite',
    'embedded',
    60_000,
    [
      'sweeper',
      'shell sessions',
      'live hub',
      'http',
      ...AFTER_HTTP,
      'retention',
      'search index',
      'live credentials',
      'mqtt',
      'dispatcher',
      'broker',
      'database',
    ],
  ],
  [
    'postgres',
    'mosquitto-dynsec',
    0,
    [
      'shell sessions',
      'live hub',
      'http',
      ...AFTER_HTTP,
      'retention',
      'search index',
      'live credentials',
      'live relay',
      'mosquitto-sync',
      'mqtt',
      'dispatcher',
      'database',
    ],
  ],
];

describe('master shutdown order', () => {
  it.each(cases)(
    '%s, %s broker, sweep every %i ms: every part stops after what uses it',
    async (db, broker, sweepIntervalMs, order) => {
      const { logger, steps } = stepRecorder();
      const stack = await startMaster({ db, broker, deps: { logger, sweepIntervalMs } });
      expect(steps).toEqual([]);
      await stack[Symbol.asyncDispose]();
      expect(steps).toEqual(order);
    },
  );

  it('a start that fails stops what had started, in the same order', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const { logger, steps } = stepRecorder();
      await expect(startMaster({ deps: { logger }, config: { httpPort: String(port) } })).rejects.toThrow();
      expect(steps).toEqual([
        'live hub',
        'http',
        ...AFTER_HTTP,
        'retention',
        'search index',
        'live credentials',
        'mqtt',
        'dispatcher',
        'broker',
        'database',
      ]);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
