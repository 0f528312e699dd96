/**
 * Child entry: a slice of the simulated fleet. Each node is a real agent (createAgent): its
 * own enrollment over HTTP, state dir, ledger, spool, sealed envelopes and MQTT connection.
 * argv[2] is a JSON FleetSlice. Answers `ready` once every agent is connected; `stats` with
 * counts; `stop` stops them all.
 */
import { join } from 'node:path';
import { createAgent, enroll, loadConfig, type Agent } from '@edgestelle/agent';
import { pino } from 'pino';
import { z } from 'zod';
import { serveParent } from '../lib/child.ts';
import { inBatches, until } from '../lib/stats.ts';
import { lightExecutor } from './light-executor.ts';

export const fleetSliceSchema = z.object({
  masterUrl: z.string(),
  joinToken: z.string(),
  nodeIds: z.array(z.string()),
  baseDir: z.string(),
  light: z.boolean(),
});
export type FleetSlice = z.infer<typeof fleetSliceSchema>;

const slice = fleetSliceSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const logger = pino({ level: 'warn' });
const agents: Agent[] = [];

await inBatches(slice.nodeIds, 16, async (nodeId) => {
  const stateDir = join(slice.baseDir, nodeId);
  const enrolled = await enroll({ masterUrl: slice.masterUrl, token: slice.joinToken, stateDir, nodeId, name: nodeId });
  const agent = createAgent(
    loadConfig({ flags: { stateDir, logLevel: 'warn' }, credentials: enrolled.credentials, env: {} }),
    {
      logger,
      ...(slice.light ? { executor: lightExecutor } : {}),
    },
  );
  agents.push(agent);
  await agent.start();
  // A bounded number of connects in flight: 10,000 CONNECTs at once overwhelm a broker that
  // shares two cores with its master, and connack timeouts then feed a reconnect storm.
  await until(() => agent.stats().connected, `${nodeId} to connect`, 300_000, 20);
});
const connected = (): number => agents.filter((agent) => agent.stats().connected).length;
await until(() => connected() === agents.length, `${agents.length} agents to connect`, 300_000, 200);

serveParent(async (message) => {
  const kind = z.object({ type: z.enum(['stats', 'stop']) }).safeParse(message);
  if (!kind.success) return undefined;
  if (kind.data.type === 'stats') {
    const spawns = agents.reduce((sum, agent) => sum + agent.stats().spawns, 0);
    return { type: 'stats', connected: connected(), spawns };
  }
  await inBatches(agents, 64, (agent) => agent.stop());
  process.disconnect();
  return undefined;
});
process.send?.({ type: 'ready', agents: agents.length });
