import type { Topics } from '@edgestelle/protocol';
import type { Logger } from 'pino';
import type { MasterConfig } from '../config.ts';
import { connectHost, hostOnly, isWildcard } from '../host-address.ts';
import { MosquittoSync } from '../mosquitto-sync/index.ts';
import type { ShutdownSteps } from '../shutdown-steps.ts';
import type { BrokerAccess } from './broker-access.ts';
import {
  DEFAULT_MQTT_MAX_UNAUTHENTICATED,
  MASTER_MQTT_USERNAME,
  startEmbeddedBroker,
  type EmbeddedBroker,
} from './embedded-broker.ts';
import { connectMqttLink, type MqttLink } from './mqtt-link.ts';

export interface StartedBroker {
  /** Undefined when the master uses an external broker (EDGESTELLE_MQTT_URL). */
  readonly embedded: EmbeddedBroker | undefined;
  /** How the master reaches its broker. */
  readonly url: string;
  /** What enrolling agents are told; the request's Host names the host when the broker listens on every address. */
  readonly agentMqttUrl: (requestHost: string | undefined) => string;
}

/**
 * The embedded broker (with its pre-login limits), unless the config names an external one.
 * Nodes log in with the passwords `checkNode` checks; the master's link logs in as
 * {@link MASTER_MQTT_USERNAME}.
 */
export async function startBroker(options: {
  config: MasterConfig;
  topics: Topics;
  masterPassword: string;
  checkNode: (nodeId: string, password: string) => Promise<boolean>;
  connectDeadlineMs: number | undefined;
  access: BrokerAccess;
  shutdown: Pick<ShutdownSteps, 'add'>;
  logger: Logger;
}): Promise<StartedBroker> {
  const { config, logger } = options;
  if (config.mqttUrl !== undefined) {
    const url = config.mqttUrl;
    return {
      embedded: undefined,
      url,
      agentMqttUrl: () => config.agentMqttUrl ?? stripCredentials(url),
    };
  }
  const broker = await startEmbeddedBroker({
    host: config.mqttHost,
    port: config.mqttPort,
    ...(config.mqttTlsPort !== undefined && config.mqttTlsCertFile !== undefined && config.mqttTlsKeyFile !== undefined
      ? { tls: { port: config.mqttTlsPort, certFile: config.mqttTlsCertFile, keyFile: config.mqttTlsKeyFile } }
      : {}),
    topics: options.topics,
    masterPassword: options.masterPassword,
    checkNode: options.checkNode,
    maxUnauthenticated: config.mqttMaxUnauthenticated ?? DEFAULT_MQTT_MAX_UNAUTHENTICATED,
    ...(options.connectDeadlineMs === undefined ? {} : { connectDeadlineMs: options.connectDeadlineMs }),
    logger: logger.child({ component: 'broker' }),
  });
  options.shutdown.add('broker', () => broker.close());
  options.access.useEmbedded(broker);
  if (broker.portFallback) {
    logger.warn(
      { port: broker.port },
      `MQTT port 1883 is taken; the embedded broker listens on ${broker.port} instead`,
    );
  }
  return {
    embedded: broker,
    url: `mqtt://${connectHost(broker.host)}:${broker.port}`,
    agentMqttUrl: (requestHost) => {
      if (config.agentMqttUrl !== undefined) return config.agentMqttUrl;
      const host = isWildcard(broker.host) ? (hostOnly(requestHost) ?? '127.0.0.1') : broker.host;
      return broker.tlsPort === undefined ? `mqtt://${host}:${broker.port}` : `mqtts://${host}:${broker.tlsPort}`;
    },
  };
}

/**
 * The master's link to its broker, and on an external Mosquitto with dynamic security the
 * master's own rights there. At shutdown the link closes first, so nothing new arrives, then
 * `afterClose` runs (ingest stores what did arrive).
 */
export async function connectBrokerLink(options: {
  config: MasterConfig;
  broker: StartedBroker;
  topics: Topics;
  masterId: string;
  masterPassword: string;
  onMessage: (topic: string, payload: Buffer) => Promise<void>;
  afterClose: () => Promise<void>;
  access: BrokerAccess;
  shutdown: Pick<ShutdownSteps, 'add'>;
  logger: Logger;
}): Promise<MqttLink> {
  const { config, broker, logger } = options;
  const link = await connectMqttLink({
    url: broker.url,
    ...(broker.embedded === undefined ? {} : { username: MASTER_MQTT_USERNAME, password: options.masterPassword }),
    topics: options.topics,
    shared: config.mqttShared,
    masterId: options.masterId,
    logger: logger.child({ component: 'mqtt' }),
    onMessage: options.onMessage,
  });
  options.access.useLink(link);
  options.shutdown.add('mqtt', async () => {
    await link.close();
    await options.afterClose();
  });
  if (config.mqttDynsec && config.mqttUrl !== undefined) {
    const sync = new MosquittoSync(link.client, {
      topicPrefix: config.topicPrefix,
      logger: logger.child({ component: 'mosquitto-sync' }),
    });
    options.access.useSync(sync);
    options.shutdown.add('mosquitto-sync', () => Promise.resolve(sync.close()));
    await grantMasterRights(sync, link, new URL(config.mqttUrl), options.access, logger);
  }
  return link;
}

async function grantMasterRights(
  sync: MosquittoSync,
  link: MqttLink,
  url: URL,
  access: BrokerAccess,
  logger: Logger,
): Promise<void> {
  const [username, password] = [decodeURIComponent(url.username), decodeURIComponent(url.password)];
  // Mosquitto disconnects a client whose roles change, this one included: on the first start
  // the answer to adding the master role can be lost with the connection. Once the link is
  // back the role is there and a second pass finds nothing to do.
  const reconnected = new Promise<void>((resolve) => {
    link.client.once('connect', () => resolve());
    setTimeout(resolve, 5000).unref();
  });
  try {
    await sync.ensureMaster(username, password);
  } catch (err) {
    logger.info({ err }, 'the broker reconnected the master while granting its role; checking again');
    await reconnected;
    await access.changeUsers('set the master rights', (s) => s.ensureMaster(username, password));
  }
}

function stripCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString().replace(/\/$/, '');
}
