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

/** Ends persistent sessions: a clean-session connect with the same client id drops the old one. */
export async function endSessions(url: string, clientIds: readonly string[]): Promise<void> {
  await inBatches(clientIds, 32, async (clientId) => {
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, clientId, clean: true, reconnectPeriod: 0 });
    await client.endAsync();
  });
}

/**
 * The master's MQTT client id is the fixed `edgestelle-master` unless shared subscriptions are
 * on, and it skips subscribing when the broker reports a session: a session an earlier run left
 * (with another topic prefix) would leave a new master deaf. So each run starts without one.
 */
export const MASTER_CLIENT_ID = 'edgestelle-master';

/**
 * Leaves nothing of a run on a shared broker, once its master is gone: every session it
 * opened ends, and an empty retained message clears each node's state.
 */
export async function forgetNodes(url: string, topicPrefix: string, nodeIds: readonly string[]): Promise<void> {
  const topics = new Topics(topicPrefix);
  await endSessions(url, [...nodeIds, MASTER_CLIENT_ID]);
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 4,
    clientId: `${topicPrefix}-cleaner`,
    reconnectPeriod: 0,
  });
  for (const nodeId of nodeIds) {
    await client.publishAsync(topics.node(nodeId, 'state'), Buffer.alloc(0), { qos: 1, retain: true });
  }
  await client.endAsync();
}
