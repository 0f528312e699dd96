import { z } from 'zod';
import { forkChild, nodeFlagsFromEnv, type BenchChild } from './child.ts';

const readySchema = z.object({
  type: z.literal('ready'),
  url: z.string(),
  agentMqttUrl: z.string(),
  brokerUrl: z.string(),
  token: z.string(),
});

export interface MasterChild {
  readonly child: BenchChild;
  readonly url: string;
  readonly agentMqttUrl: string;
  readonly token: string;
}

/** A master in its own process: embedded broker unless `mqttUrl`; SQLite in `dataDir`. */
export async function startMasterChild(config: {
  dataDir: string;
  mqttUrl?: string;
  topicPrefix: string;
}): Promise<MasterChild> {
  const settings: Record<string, string> = { dataDir: config.dataDir, httpPort: '0', topicPrefix: config.topicPrefix };
  if (config.mqttUrl === undefined) settings.mqttPort = '0';
  else settings.mqttUrl = config.mqttUrl;
  const { child, ready } = await forkChild(
    new URL('./master-process.ts', import.meta.url),
    [JSON.stringify(settings)],
    readySchema,
    120_000,
    nodeFlagsFromEnv('EDGESTELLE_BENCH_MASTER_NODE_FLAGS'),
  );
  return { child, url: ready.url, agentMqttUrl: ready.agentMqttUrl, token: ready.token };
}
