import { startMosquitto, type Mosquitto } from '@edgestelle/testkit';
import mqtt from 'mqtt';

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
