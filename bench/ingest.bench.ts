/**
 * The ingest scenario alone (scenarios/ingest.ts), as `npm run bench -w @edgestelle/master` runs it:
 *
 *   npm run bench -w @edgestelle/master                      # 100 agents, 10 s, embedded broker
 *   npm run bench -w @edgestelle/master -- --seconds 2       # a smoke
 *   flags: --seconds N --agents N --chunk-bytes N --window N --db sqlite|postgres --mqtt-url URL
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { measureIngest } from './scenarios/ingest.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    agents: { type: 'string', default: '100' },
    'chunk-bytes': { type: 'string', default: '16384' },
    window: { type: 'string', default: '32' },
    db: { type: 'string', default: 'sqlite' },
    'mqtt-url': { type: 'string' },
  },
});
const count = z.coerce.number().int().positive();
const options = {
  seconds: count.parse(values.seconds),
  agents: count.parse(values.agents),
  chunkBytes: count.parse(values['chunk-bytes']),
  window: count.parse(values.window),
  db: z.enum(['sqlite', 'postgres']).parse(values.db),
  topicPrefix: `esbench-${randomBytes(3).toString('hex')}`,
  ...(values['mqtt-url'] === undefined ? {} : { mqttUrl: values['mqtt-url'] }),
};
const result = await measureIngest(options);
const mb = (bytesPerSec: number): string => `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
console.log(
  `ingest bench: ${options.agents} agents × ${options.seconds} s, ${options.chunkBytes}-byte chunks (${result.envelopeBytes}-byte envelopes), ${options.db}, ${options.mqttUrl ?? 'embedded broker'}`,
);
console.log(
  `  stored (committed)       ${mb(result.storedBytesPerSec)}   (${(result.storedBytes / 1e6).toFixed(1)} MB)`,
);
console.log(
  `  pushed to 1 WS client    ${mb(result.pushedBytesPerSec)}   (${(result.pushedBytes / 1e6).toFixed(1)} MB${result.wsCloseCode === null ? '' : `, closed with ${result.wsCloseCode}`})`,
);
console.log(`  raw pub→sub ceiling      ${mb(result.ceilingBytesPerSec)}   (same broker, QoS 1, same message size)`);
console.log(`  lines/s                  ${Math.round(result.linesPerSec).toLocaleString('en')}   (64-byte lines)`);
console.log(`  ratio stored/ceiling     ${(result.storedBytesPerSec / result.ceilingBytesPerSec).toFixed(2)}`);
console.log(`  ratio pushed/ceiling     ${(result.pushedBytesPerSec / result.ceilingBytesPerSec).toFixed(2)}`);
