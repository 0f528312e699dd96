import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import mqemitter from 'mqemitter';
import type { Logger } from 'pino';
import { isValidNodeId, limits, type Topics } from '@edgestelle/protocol';
import { MasterError, MasterErrorCode } from '../errors.ts';
import { brokerPersistence } from './broker-persistence.ts';
import { guardPacketSize } from './packet-size-guard.ts';
import {
  UnauthenticatedConnections,
  type Admission,
  type UnauthenticatedStats,
} from './unauthenticated-connections.ts';

/** The master's own broker user: contains ':', which no node id can. */
export const MASTER_MQTT_USERNAME = 'edgestelle:master';
export const DEFAULT_MQTT_PORT = 1883;
/** Room for the topic and header around the largest envelope (Mosquitto's max_packet_size is set the same way). */
const MAX_PACKET_HEADROOM_BYTES = 4096;
/**
 * All a connection may send before its CONNACK. An agent's CONNECT (client id, credentials, a
 * sealed will of ~150 bytes) is under 1 KiB; the master's link sends less.
 */
export const PRE_AUTH_MAX_BYTES = 4096;
/** TLS handshake + CONNECT + credential check. Agents and the master's link give up at 10 s themselves. */
export const MQTT_CONNECT_DEADLINE_MS = 10_000;
/** Sockets that may wait for their CONNACK at once (EDGESTELLE_MQTT_MAX_UNAUTHENTICATED). */
export const DEFAULT_MQTT_MAX_UNAUTHENTICATED = 1000;

export interface EmbeddedBrokerOptions {
  host: string;
  /** Undefined: 1883, or a free port when 1883 is taken. Set: exactly this port or a startup error. */
  port: number | undefined;
  tls?: { port: number; certFile: string; keyFile: string };
  topics: Topics;
  masterPassword: string;
  /** True when the node exists, is not revoked and the password matches its stored hash. */
  checkNode: (nodeId: string, password: string) => Promise<boolean>;
  /** Sockets not yet past their CONNACK (TLS handshakes included); more are closed as they come. */
  maxUnauthenticated: number;
  /** Default {@link MQTT_CONNECT_DEADLINE_MS}; tests shorten it. */
  connectDeadlineMs?: number;
  logger: Logger;
}

export interface EmbeddedBroker {
  readonly host: string;
  readonly port: number;
  readonly tlsPort: number | undefined;
  /** True when the port was chosen because 1883 was taken. */
  readonly portFallback: boolean;
  /** Ends a node's connection now (revocation); its next CONNECT is refused by {@link checkNode}. */
  disconnect(nodeId: string): void;
  isNodeConnected(nodeId: string): boolean;
  /** Connections waiting for their CONNACK, and those closed before it (/metrics). */
  readonly unauthenticated: UnauthenticatedStats;
  close(): Promise<void>;
}

/**
 * Aedes locked down the way Mosquitto 2 is by default (docs/DESIGN.md "Protocol v1"): loopback
 * unless told otherwise, no anonymous clients, each node confined to its own topics with its
 * client id equal to its username (so no node can take over another's session), and caps on
 * packet size and topic depth. Before its CONNACK a connection is held to a few KiB, a deadline
 * and a cap on how many may wait at once (the MQTT port is open to anyone who can reach it).
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { topics, logger } = options;
  const clients = new Map<string, Client>();
  const masterClients = new WeakSet<Client>();
  const nodeClientId = new WeakMap<Client, string>();
  const topicRoot = `${topics.prefix}/`;

  const broker = await Aedes.createBroker({
    persistence: brokerPersistence(),
    mq: publishQueue(),
    // prefix segments + v1/nodes/{id}/{channel}, plus room for `$share/group/`.
    maxTopicLevels: topics.prefix.split('/').length + 6,
    maxClientsIdLength: 128,
    authenticate(client, username, password, done) {
      const refuse = (): void => {
        const error: AuthenticateError = Object.assign(new Error('bad username or password'), { returnCode: 4 });
        done(error, false);
      };
      if (username === undefined || password === undefined) return refuse();
      const secret = password.toString('utf8');
      if (username === MASTER_MQTT_USERNAME) {
        if (secret !== options.masterPassword) return refuse();
        masterClients.add(client);
        return done(null, true);
      }
      if (!isValidNodeId(username) || client.id !== username) return refuse();
      options.checkNode(username, secret).then(
        (ok) => {
          if (!ok) return refuse();
          nodeClientId.set(client, username);
          done(null, true);
        },
        (err: unknown) => {
          logger.error({ err }, 'broker authentication lookup failed');
          // "Server unavailable", not "bad username or password": an agent refused that way
          // again and again concludes it was revoked and stops (the agent's connection.ts).
          const unavailable: AuthenticateError = Object.assign(new Error('cannot check the credentials now'), {
            returnCode: 3,
          });
          done(unavailable, false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      if (client === null) return done(null);
      if (masterClients.has(client)) {
        return done(packet.topic.startsWith(topicRoot) ? null : new Error('master publishes only under its prefix'));
      }
      const nodeId = nodeClientId.get(client);
      const allowed =
        nodeId !== undefined &&
        (packet.topic === topics.node(nodeId, 'evt') ||
          packet.topic === topics.node(nodeId, 'state') ||
          packet.topic === topics.node(nodeId, 'shell'));
      done(allowed ? null : new Error(`node may not publish to ${packet.topic}`));
    },
    // A refused filter is answered with SUBACK 0x80 (a null subscription), as Mosquitto does; an
    // error would drop the whole connection.
    authorizeSubscribe(client, subscription, done) {
      if (masterClients.has(client)) {
        return done(null, subscription.topic.startsWith(topicRoot) ? subscription : null);
      }
      const nodeId = nodeClientId.get(client);
      const allowed = nodeId !== undefined && subscription.topic === topics.node(nodeId, 'cmd');
      if (!allowed) logger.warn({ clientId: client.id, topic: subscription.topic }, 'refused a subscription');
      done(null, allowed ? subscription : null);
    },
  });
  broker.on('clientReady', (client) => {
    if (nodeClientId.has(client)) clients.set(client.id, client);
  });
  broker.on('clientDisconnect', (client) => {
    if (clients.get(client.id) === client) clients.delete(client.id);
  });
  broker.on('clientError', (client, err) => logger.debug({ clientId: client.id, err }, 'broker client error'));

  const packetLimits = {
    maxPacketBytes: limits.envelopeMaxBytes + MAX_PACKET_HEADROOM_BYTES,
    preAuthMaxBytes: PRE_AUTH_MAX_BYTES,
  };
  // Aedes's own connectTimeout stops at the CONNECT; this deadline runs until the CONNACK.
  const unauthenticated = new UnauthenticatedConnections(
    { max: options.maxUnauthenticated, deadlineMs: options.connectDeadlineMs ?? MQTT_CONNECT_DEADLINE_MS },
    logger,
  );
  const onConnack = new WeakMap<Client, () => void>();
  broker.on('connackSent', (packet, client) => {
    if (packet.returnCode === 0) onConnack.get(client)?.();
  });
  /** `socket` is what Aedes reads: the TCP socket itself, or the TLS socket over it. */
  const serve = (socket: Socket, admission: Admission): void => {
    // PUBACKs and commands are small writes on sockets that carry traffic the other way: with
    // Nagle's algorithm each waited for a delayed TCP ACK, and a job's commands, sent one
    // PUBACK after another, went out at ~25 ms a node (fan-out bench: 300 nodes 6.7 s → 1.4 s).
    socket.setNoDelay(true);
    const guard = guardPacketSize(socket, packetLimits, {
      handOver() {
        onConnack.set(broker.handle(socket), () => {
          admission.authenticated();
          guard.authenticated();
        });
      },
      refused(refusal) {
        if (refusal.reason === 'too_large' && refusal.authenticated) {
          logger.warn(
            { remoteAddress: socket.remoteAddress, announced: refusal.announcedBytes },
            'closed a connection sending an oversized MQTT packet',
          );
        } else {
          unauthenticated.refused(refusal.reason, { remoteAddress: socket.remoteAddress, ...refusal });
        }
      },
      socketError(err) {
        logger.debug({ remoteAddress: socket.remoteAddress, err }, 'MQTT connection error before its CONNECT');
      },
    });
  };
  const server = createServer((socket) => {
    const admission = unauthenticated.admit(socket);
    if (admission !== undefined) serve(socket, admission);
  });
  let port: number;
  let portFallback = false;
  try {
    port = await listen(server, options.host, options.port ?? DEFAULT_MQTT_PORT);
  } catch (err) {
    if (options.port !== undefined || !isAddressInUse(err)) {
      await closeBroker(broker);
      throw new MasterError(
        isAddressInUse(err) ? MasterErrorCode.portInUse : MasterErrorCode.configInvalid,
        isAddressInUse(err)
          ? `MQTT port ${options.host}:${options.port} is already in use: pick another with EDGESTELLE_MQTT_PORT, or leave it unset to take a free one`
          : `cannot listen for MQTT on ${options.host}:${options.port}: ${String(err)}`,
        { cause: err },
      );
    }
    port = await listen(server, options.host, 0);
    portFallback = true;
  }
  let tlsServer: Server | undefined;
  if (options.tls !== undefined) {
    const secureContext = createSecureContext({
      cert: readFileSync(options.tls.certFile),
      key: readFileSync(options.tls.keyFile),
      minVersion: 'TLSv1.2',
    });
    // A plain listener that wraps each socket itself, so that a socket is counted and on the
    // clock from its accept, before its handshake (a tls.Server shows it only once secured).
    tlsServer = createServer((socket) => {
      const admission = unauthenticated.admit(socket);
      if (admission === undefined) return;
      serve(new TLSSocket(socket, { isServer: true, secureContext }), admission);
    });
    await listen(tlsServer, options.host, options.tls.port);
  }
  const tlsPort = tlsServer === undefined ? undefined : portOf(tlsServer);
  return {
    host: options.host,
    port,
    tlsPort,
    portFallback,
    disconnect(nodeId) {
      clients.get(nodeId)?.close();
    },
    isNodeConnected: (nodeId) => clients.has(nodeId),
    get unauthenticated() {
      return unauthenticated.stats;
    },
    async close() {
      await closeBroker(broker);
      await Promise.all([closeServer(server), tlsServer === undefined ? undefined : closeServer(tlsServer)]);
    },
  };
}

/**
 * Aedes's publish queue: at most 100 publishes are delivered at once (Aedes's default; it is the
 * back-pressure that keeps a 10,000-node fan-out from burying the master's link), the rest wait.
 * As one finishes the next starts on the same stack, so a run of queued publishes that all finish
 * at once — their subscriber, the master's link, just dropped and nothing is left to deliver —
 * recursed thousands deep and overflowed the stack, killing the master. A listener on every topic
 * that answers in a microtask makes each publish finish on a fresh stack.
 */
function publishQueue(): mqemitter.MQEmitter {
  const mq = mqemitter({ concurrency: 100, matchEmptyLevels: true });
  mq.on('#', (_message, done) => queueMicrotask(done));
  return mq;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(portOf(server));
    });
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the MQTT listener has no TCP address');
  return address.port;
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'EADDRINUSE';
}

function closeBroker(broker: Aedes): Promise<void> {
  return new Promise((resolve) => broker.close(() => resolve()));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
  });
}
