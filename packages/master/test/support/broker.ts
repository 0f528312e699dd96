import type { Topics } from '@edgestelle/protocol';
import { pino } from 'pino';
import {
  DEFAULT_MQTT_MAX_UNAUTHENTICATED,
  startEmbeddedBroker,
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
} from '../../src/broker/embedded-broker.ts';

/** A real embedded broker on a free port of 127.0.0.1 that knows no node, only the master's password. */
export function startTestBroker(
  topics: Topics,
  masterPassword: string,
  options: Partial<Pick<EmbeddedBrokerOptions, 'maxUnauthenticated' | 'connectDeadlineMs' | 'tls'>> = {},
): Promise<EmbeddedBroker> {
  return startEmbeddedBroker({
    host: '127.0.0.1',
    port: 0,
    topics,
    masterPassword,
    checkNode: () => Promise.resolve(false),
    maxUnauthenticated: DEFAULT_MQTT_MAX_UNAUTHENTICATED,
    logger: pino({ level: 'silent' }),
    ...options,
  });
}
