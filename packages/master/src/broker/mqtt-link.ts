import { Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Topics } from '@edgestelle/protocol';
import { WindowedPublisher } from './publisher.ts';

export interface MqttLinkOptions {
  url: string;
  username?: string;
  password?: string;
  topics: Topics;
  /** Subscribe through `$share/edgestelle/…` so several masters split the ingest. */
  shared: boolean;
  /** Stable per master (data dir), so each keeps its own persistent session across restarts. */
  masterId: string;
  logger: Logger;
  /** Called per message; the broker gets no PUBACK until it resolves (backpressure). */
  onMessage: (topic: string, payload: Buffer) => Promise<void>;
}

export interface MqttLink {
  readonly client: MqttClient;
  readonly publisher: WindowedPublisher;
  connected(): boolean;
  close(): Promise<void>;
}

/**
 * The master's one MQTT client, to the embedded broker or an external one: MQTT 3.1.1 (aedes
 * speaks nothing newer), a persistent session under a fixed client id so QoS 1 events queued
 * while the master was away are delivered when it returns.
 */
export async function connectMqttLink(options: MqttLinkOptions): Promise<MqttLink> {
  const url = new URL(options.url);
  const username = options.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username));
  const password = options.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password));
  url.username = '';
  url.password = '';
  const clientOptions: IClientOptions = {
    protocolVersion: 4,
    // A lone master keeps a persistent session so events queued while it restarts wait for it.
    // Shared subscribers must not: Mosquitto keeps an offline persistent session in the share
    // group and queues its turn of every message for it, so one dead master would hold back half
    // of the fleet's output until it returned (faults/scale-out-kill.test.ts). Without a session
    // the survivors get everything; agents re-send what was in flight from their spools.
    clean: options.shared,
    // With shared subscriptions each master needs its own session; without, one fixed id.
    clientId: options.shared ? `edgestelle-master-${options.masterId}` : 'edgestelle-master',
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    keepalive: 30,
    resubscribe: true,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
  const client = mqtt.connect(url.toString(), clientOptions);
  const { logger, topics } = options;
  const ours = `${topics.prefix}/`;
  client.handleMessage = (packet, done) => {
    // Other subscribers on this client (the broker's $CONTROL answers) read the 'message' event.
    if (!packet.topic.startsWith(ours)) return done();
    options
      .onMessage(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload))
      .then(
        // Stored after the link's socket ended: a PUBACK now would be written after the end.
        // Left unacknowledged, the message comes again (the persistent session, or the agent's
        // re-send) and is stored idempotently. While the link is only closing, the PUBACK must
        // go: until done() is called no later packet is read, and a close that waits for the
        // broker's PUBACKs to its own publishes would wait forever.
        () => (client.stream.writable ? done() : undefined),
        (err: unknown) => {
          logger.error({ err, topic: packet.topic }, 'ingest failed on a message; it will come again');
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
  };
  const filters = [
    ...(['evt', 'state'] as const).map((channel) =>
      options.shared ? topics.sharedAllNodes(channel, 'edgestelle') : topics.allNodes(channel),
    ),
    // Every master hears every shell session's output; the one holding the session relays it.
    topics.allNodes('shell'),
  ];
  let connectedOnce = false;
  client.on('connect', (connack) => {
    // Commands go out one PUBACK at a time while agents' events stream in on the same socket:
    // with Nagle's algorithm each small PUBLISH waited for a delayed TCP ACK (~28 ms a run in
    // the fan-out bench, 0.3 ms without).
    if (client.stream instanceof Socket) client.stream.setNoDelay(true);
    logger.info({ sessionPresent: connack.sessionPresent }, 'connected to the MQTT broker');
    // Subscribe on every reconnect even when the broker kept a session: a session left under the
    // same client id by a master with another topic prefix would otherwise leave this one deaf.
    // The first connect is covered by the awaited subscription below.
    if (connectedOnce) {
      client.subscribe(filters, { qos: 1 }, (err) => {
        if (err) logger.error({ err }, 'subscribing to agent topics failed');
      });
    }
    connectedOnce = true;
  });
  client.on('error', (err) => logger.warn({ err }, 'MQTT client error'));
  client.on('offline', () => logger.warn('MQTT broker unreachable; reconnecting'));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      client.end(true);
      reject(err);
    };
    client.once('connect', () => {
      client.off('error', onError);
      resolve();
    });
    client.once('error', onError);
  });
  // The first subscription must be in place before anything is dispatched.
  await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    publisher: new WindowedPublisher(client, 100),
    connected: () => client.connected,
    close: () => client.endAsync(),
  };
}
