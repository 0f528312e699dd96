/**
 * Child entry: a slice of the simulated fleet. Each node is a real agent (createAgent): its
 * own enrollment over HTTP, state dir, ledger, spool, sealed envelopes and MQTT connection.
 * argv[2] is a JSON FleetSlice. Answers `ready` once every agent is connected; `stats` with
 * counts; `stop` stops them all (and, on a shared broker, removes their sessions and
 * retained states).
 */
import { join } from 'node:path';
import { createAgent, enroll, loadConfig, type Agent } from '@edgestelle/agent';
import { Topics } from '@edgestelle/protocol';
import mqtt from 'mqtt';
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
  /** The broker is shared with others: leave no session or retained message behind. */
  cleanBroker: z.boolean(),
});
export type FleetSlice = z.infer<typeof fleetSliceSchema>;

const slice = fleetSliceSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const logger = pino({ level: 'warn' });
const agents: Agent[] = [];
const credentials = new Map<string, { url: string; username: string; password: string; prefix: string }>();

await inBatches(slice.nodeIds, 16, async (nodeId) => {
  const stateDir = join(slice.baseDir, nodeId);
  const enrolled = await enroll({ masterUrl: slice.masterUrl, token: slice.joinToken, stateDir, nodeId, name: nodeId });
  const { mqtt: broker, topicPrefix } = enrolled.credentials;
  credentials.set(nodeId, {
    url: broker.url,
    username: broker.username,
    password: broker.password,
    prefix: topicPrefix,
  });
  const agent = createAgent(
    loadConfig({ flags: { stateDir, logLevel: 'warn' }, credentials: enrolled.credentials, env: {} }),
    {
      logger,
      ...(slice.light ? { executor: lightExecutor } : {}),
    },
  );
  agents.push(agent);
  await agent.start();
});
const connected = (): number => agents.filter((agent) => agent.stats().connected).length;
await until(() => connected() === agents.length, `${agents.length} agents to connect`, 300_000, 200);

/** Connecting again with a clean session ends the agent's persistent one; an empty retained message clears its state. */
async function cleanBroker(): Promise<void> {
  await inBatches([...credentials], 32, async ([nodeId, c]) => {
    const client = await mqtt.connectAsync(c.url, {
      protocolVersion: 4,
      clientId: nodeId,
      username: c.username,
      password: c.password,
      clean: true,
      reconnectPeriod: 0,
    });
    await client.publishAsync(new Topics(c.prefix).node(nodeId, 'state'), Buffer.alloc(0), { qos: 1, retain: true });
    await client.endAsync();
  });
}

serveParent(async (message) => {
  const kind = z.object({ type: z.enum(['stats', 'stop']) }).safeParse(message);
  if (!kind.success) return undefined;
  if (kind.data.type === 'stats') {
    const spawns = agents.reduce((sum, agent) => sum + agent.stats().spawns, 0);
    return { type: 'stats', connected: connected(), spawns };
  }
  await inBatches(agents, 64, (agent) => agent.stop());
  if (slice.cleanBroker) await cleanBroker();
  process.disconnect();
  return undefined;
});
process.send?.({ type: 'ready', agents: agents.length });
