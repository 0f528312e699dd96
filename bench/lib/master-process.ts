/**
 * Child entry: one master (createMaster) in its own process, so the bench reads its RSS and
 * CPU alone. argv[2] is a JSON object of config keys (configFrom). Answers `ready` with its
 * URLs and an admin API token, then `stop` closes it.
 */
import { configFrom, createMaster } from '@edgestelle/master';
import { pino } from 'pino';
import { z } from 'zod';
import { serveParent } from './child.ts';

const config = z.record(z.string(), z.string()).parse(JSON.parse(process.argv[2] ?? '{}'));
const master = await createMaster(configFrom({ ...config, adminPassword: 'bench-password', logLevel: 'warn' }), {
  logger: pino({ level: 'warn' }),
});
const admin = await master.store.db.selectFrom('users').select('user_id').executeTakeFirstOrThrow();
const { token } = await master.auth.createApiToken(admin.user_id, 'bench', null);

serveParent(async (message) => {
  if (z.object({ type: z.literal('stop') }).safeParse(message).success) {
    await master.close();
    // Exit even if a library left a handle open; --cpu-prof still writes its profile.
    process.exit(0);
  }
  return undefined;
});
process.send?.({
  type: 'ready',
  url: master.url,
  agentMqttUrl: master.agentMqttUrl,
  brokerUrl: master.brokerUrl,
  token,
});
