import { pino, type DestinationStream, type Logger } from 'pino';
import type { MasterConfig } from './config.ts';

/**
 * Log fields that may carry a secret, censored wherever they appear: credentials in requests,
 * enrollment answers (node key, broker password), tokens and passwords in any object logged, a
 * job's secret variables.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.nodeKey',
  '*.masterSecret',
  '*.sessionToken',
  '*.passwordHash',
  '*.password_hash',
  '*.token_hash',
  '*.secretEnv',
  'password',
  'token',
  'nodeKey',
  'secretEnv',
];

/** The master's own logger, with its redaction rules; it writes to stdout unless told otherwise. */
export function createMasterLogger(level: MasterConfig['logLevel'], destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'edgestelle-master' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination ?? pino.destination(1),
  );
}
