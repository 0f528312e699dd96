import type { Topics } from '@edgestelle/protocol';
import { pino } from 'pino';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/broker/embedded-broker.ts';

/** A real embedded broker on a free port of 127.0.0.1 that knows no node, only the master's password. */
export function startTestBroker(topics: Topics, masterPassword: string): Promise<EmbeddedBroker> {
  return startEmbeddedBroker({
    host: '127.0.0.1',
    port: 0,
    topics,
    masterPassword,
    checkNode: () => Promise.resolve(false),
    logger: pino({ level: 'silent' }),
  });
}
