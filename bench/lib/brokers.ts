import { startMosquitto, type Mosquitto } from '@edgestelle/testkit';
import { Topics } from '@edgestelle/protocol';
import mqtt from 'mqtt';
import { inBatches } from './stats.ts';

export type BrokerKind = 'embedded' | 'mosquitto';

export interface BrokerTarget {
  kind: BrokerKind;
  /** undefined: the master's embedded Aedes. */
  mqttUrl: string | undefined;
  /** How it was found, for the table. */
  label: string;
  /** Someone else's broker: only connect as a client, leave nothing behind. */
  shared: boolean;
  close(): Promise<void>;
}

const SHARED_MOSQUITTO_URL = 'mqtt://127.0.0.1:1883';

async function answers(url: string): Promise<boolean> {
  try {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clientId: `edgestelle-bench-probe-${process.pid}`,
      reconnectPeriod: 0,
      connectTimeout: 2000,
    });
    await client.endAsync();
    return true;
  } catch {
    // Refused, anonymous clients not allowed, or nothing listening: we start our own instead.
    return false;
  }
}

/** The machine's Mosquitto on 127.0.0.1:1883 when it takes anonymous clients, else a private one (testkit). */
export async function brokerTarget(kind: BrokerKind): Promise<BrokerTarget> {
  if (kind === 'embedded') {
    return { kind, mqttUrl: undefined, label: 'embedded Aedes', shared: false, close: () => Promise.resolve() };
  }
  if (await answers(SHARED_MOSQUITTO_URL)) {
    return {
      kind,
      mqttUrl: SHARED_MOSQUITTO_URL,
      label: "the machine's Mosquitto (127.0.0.1:1883, shared)",
      shared: true,
      close: () => Promise.resolve(),
    };
  }
  const mosquitto: Mosquitto = await startMosquitto();
  return {
    kind,
    mqttUrl: mosquitto.url,
    label: `private Mosquitto (${mosquitto.url}; none on 1883)`,
    shared: false,
    close: () => mosquitto.stop(),
  };
}

/**
 * Leaves nothing of a run on a shared broker, once its master is gone: a clean-session
 * connect ends each agent's persistent session, an empty retained message clears its state.
 */
export async function forgetNodes(url: string, topicPrefix: string, nodeIds: readonly string[]): Promise<void> {
  const topics = new Topics(topicPrefix);
  await inBatches(nodeIds, 32, async (nodeId) => {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clientId: nodeId,
      clean: true,
      reconnectPeriod: 0,
    });
    await client.publishAsync(topics.node(nodeId, 'state'), Buffer.alloc(0), { qos: 1, retain: true });
    await client.endAsync();
  });
}
