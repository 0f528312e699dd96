import { fileURLToPath } from 'node:url';
import { Topics, type Command } from '@edgestelle/protocol';
import { sealMessage } from '@edgestelle/protocol/envelope';
import type { FastifyInstance } from 'fastify';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { HttpTimeouts } from './api/api-deps.ts';
import { buildApi } from './api/app.ts';
import { AuditLog } from './audit/audit-log.ts';
import type { AdminBootstrap } from './auth/admin-bootstrap.ts';
import { AuthService } from './auth/auth-service.ts';
import {
  DEFAULT_MQTT_MAX_UNAUTHENTICATED,
  MASTER_MQTT_USERNAME,
  startEmbeddedBroker,
  type EmbeddedBroker,
} from './broker/embedded-broker.ts';
import { connectMqttLink, type MqttLink } from './broker/mqtt-link.ts';
import { systemClock, type Clock } from './clock.ts';
import type { MasterConfig } from './config.ts';
import { openDataDir } from './data-dir.ts';
import { openStore, redactUrl } from './db/connect.ts';
import type { Store } from './db/store.ts';
import { MasterError, MasterErrorCode } from './errors.ts';
import { MasterEvents } from './events.ts';
import { MosquittoSync } from './mosquitto-sync/index.ts';
import { LiveHub } from './live/live-hub.ts';
import { startPgRelay } from './live/pg-relay.ts';
import { NodeKeys } from './node-keys.ts';
import { Enrollment } from './nodes/enrollment.ts';
import { NodeService } from './nodes/node-service.ts';
import { Dispatcher } from './runs/dispatcher.ts';
import { Ingest } from './runs/ingest.ts';
import { History } from './runs/history.ts';
import { MasterMetrics } from './metrics/metrics.ts';
import { Retention } from './retention/retention.ts';
import { SecretEnvBox } from './runs/secret-env.ts';
import { ScriptLibrary } from './scripts/script-library.ts';
import { LineIndexer } from './search/line-indexer.ts';
import { LogSearch } from './search/log-search.ts';

export interface MasterDeps {
  clock?: Clock;
  /** A ready logger (used as it is); otherwise one is built with the master's redaction rules. */
  logger?: Logger;
  /** Where the master's own logger writes (default stdout): tests capture log lines here. */
  logDestination?: DestinationStream;
  /** The console's static files; default packages/master/public. */
  publicDir?: string;
  onRoute?: (route: { method: string | string[]; url: string }) => void;
  ingestFlushIntervalMs?: number;
  /** How often the sweeper looks for stuck runs; 0 turns the timer off (tests call sweep()). */
  sweepIntervalMs?: number;
  lostRunGraceMs?: number;
  cancelGraceMs?: number;
  liveMaxBufferedBytes?: number;
  liveReplayStallMs?: number;
  /** How long the search indexer lets changes gather (ms). */
  indexDelayMs?: number;
  /** How often open live connections have their credentials checked again (ms). */
  liveRecheckIntervalMs?: number;
  /** The embedded broker's CONNECT + authentication deadline (ms); tests shorten it. */
  mqttConnectDeadlineMs?: number;
  /** HTTP header and request deadlines; tests shorten them. */
  httpTimeouts?: HttpTimeouts;
}

/**
 * Log fields that may carry a secret, censored wherever they appear: credentials in requests,
 * enrollment answers (node key, broker password), tokens and passwords in any object logged, a
 * job's secret variables.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.nodeKey',
  '*.masterSecret',
  '*.sessionToken',
  '*.passwordHash',
  '*.password_hash',
  '*.token_hash',
  '*.secretEnv',
  'password',
  'token',
  'nodeKey',
  'secretEnv',
];

export interface Master {
  readonly config: MasterConfig;
  /** http://host:port the API listens on. */
  readonly url: string;
  readonly httpPort: number;
  /** How the master reaches its broker. */
  readonly brokerUrl: string;
  /** What enrolling agents are told (for requests that do not name a host). */
  readonly agentMqttUrl: string;
  readonly embeddedBroker: EmbeddedBroker | undefined;
  readonly admin: AdminBootstrap;
  readonly store: Store;
  readonly events: MasterEvents;
  readonly ingest: Ingest;
  readonly dispatcher: Dispatcher;
  readonly enrollment: Enrollment;
  readonly nodes: NodeService;
  readonly auth: AuthService;
  readonly audit: AuditLog;
  readonly scripts: ScriptLibrary;
  readonly indexer: LineIndexer;
  readonly retention: Retention;
  readonly metrics: MasterMetrics;
  readonly hub: LiveHub;
  readonly app: FastifyInstance;
  sweep(): Promise<number>;
  close(): Promise<void>;
}

const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));

/**
 * Everything `edgestelle master` runs, wired from one config: data dir and secrets, database
 * and migrations, the first admin, the broker (embedded, or a client of an external one),
 * ingest, dispatcher, sweeper, live hub and the HTTP API. Tests call this; main.ts adds
 * signals and the banner.
 */
export async function createMaster(config: MasterConfig, deps: MasterDeps = {}): Promise<Master> {
  const clock = deps.clock ?? systemClock;
  const logger =
    deps.logger ??
    pino(
      {
        level: config.logLevel,
        base: { service: 'edgestelle-master' },
        redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      },
      deps.logDestination ?? pino.destination(1),
    );
  const topics = new Topics(config.topicPrefix);
  const dataDir = await openDataDir(config.dataDir, config.masterKeyFile, logger);
  const cleanups: Array<[step: string, cleanup: () => Promise<void>]> = [];
  const closeAll = async (): Promise<void> => {
    for (const [step, cleanup] of cleanups.reverse()) {
      try {
        logger.debug({ step }, 'shutting down');
        await cleanup();
      } catch (err) {
        logger.warn({ err }, 'error while shutting down');
      }
    }
  };
  try {
    const store = await openStore(config.databaseUrl, logger.child({ component: 'db' }));
    cleanups.push(['database', () => store.close()]);
    logger.info({ database: redactUrl(config.databaseUrl), dialect: store.dialect }, 'database ready');
    const audit = new AuditLog(store.db, clock);
    const auth = new AuthService(store, dataDir.masterSecret, clock, audit);
    const scripts = new ScriptLibrary(store.db, clock, audit);
    const admin = await auth.bootstrapAdmin(dataDir.path, config.adminPassword);
    const events = new MasterEvents();
    const keys = new NodeKeys(store, dataDir.masterSecret);
    await keys.reload();

    let broker: EmbeddedBroker | undefined;
    // Commands are sent by parts built before the link exists; they find it here once it does.
    const linkRef: { current: MqttLink | undefined } = { current: undefined };
    const disconnectNode = (nodeId: string): void => broker?.disconnect(nodeId);
    // Set once the link is up when the external broker's users are managed over dynamic security.
    const syncRef: { current: MosquittoSync | undefined } = { current: undefined };
    const brokerSecurity = async (what: string, action: (sync: MosquittoSync) => Promise<void>): Promise<void> => {
      const sync = syncRef.current;
      if (sync === undefined) return;
      try {
        await action(sync);
      } catch (cause) {
        throw new MasterError(
          MasterErrorCode.unavailable,
          `the MQTT broker did not ${what}: ${cause instanceof Error ? cause.message : String(cause)}; try again`,
          { cause },
        );
      }
    };
    const nodes = new NodeService({
      store,
      keys,
      clock,
      events,
      disconnectNode,
      removeBrokerCredentials: (nodeId) => brokerSecurity('remove the node', (sync) => sync.removeNode(nodeId)),
      audit,
    });

    if (config.mqttUrl === undefined) {
      broker = await startEmbeddedBroker({
        host: config.mqttHost,
        port: config.mqttPort,
        ...(config.mqttTlsPort !== undefined &&
        config.mqttTlsCertFile !== undefined &&
        config.mqttTlsKeyFile !== undefined
          ? { tls: { port: config.mqttTlsPort, certFile: config.mqttTlsCertFile, keyFile: config.mqttTlsKeyFile } }
          : {}),
        topics,
        masterPassword: dataDir.masterMqttPassword,
        checkNode: (nodeId, password) => nodes.checkBrokerPassword(nodeId, password),
        maxUnauthenticated: config.mqttMaxUnauthenticated ?? DEFAULT_MQTT_MAX_UNAUTHENTICATED,
        ...(deps.mqttConnectDeadlineMs === undefined ? {} : { connectDeadlineMs: deps.mqttConnectDeadlineMs }),
        logger: logger.child({ component: 'broker' }),
      });
      const embedded = broker;
      cleanups.push(['broker', () => embedded.close()]);
      if (broker.portFallback) {
        logger.warn(
          { port: broker.port },
          `MQTT port 1883 is taken; the embedded broker listens on ${broker.port} instead`,
        );
      }
    }
    const brokerUrl =
      broker === undefined ? (config.mqttUrl ?? '') : `mqtt://${connectHost(broker.host)}:${broker.port}`;
    const agentMqttUrl = (requestHost: string | undefined): string => {
      if (config.agentMqttUrl !== undefined) return config.agentMqttUrl;
      if (broker === undefined) return stripCredentials(config.mqttUrl ?? '');
      const host = isWildcard(broker.host) ? (hostOnly(requestHost) ?? '127.0.0.1') : broker.host;
      return broker.tlsPort === undefined ? `mqtt://${host}:${broker.port}` : `mqtts://${host}:${broker.tlsPort}`;
    };

    const sendCommand = async (nodeId: string, command: Command): Promise<void> => {
      const key = keys.sealingKey(nodeId);
      const link = linkRef.current;
      if (key === undefined || link === undefined) return;
      const topic = topics.node(nodeId, 'cmd');
      // Sealed with the wall clock, whatever clock decides: the agent checks freshness against its own.
      await link.publisher.publish(topic, sealMessage(topic, command, key));
    };
    const dispatcher = new Dispatcher({
      store,
      events,
      clock,
      logger: logger.child({ component: 'dispatcher' }),
      sendCommand,
      audit,
      scripts,
      secretEnv: new SecretEnvBox(dataDir.masterSecret),
      ...(deps.lostRunGraceMs === undefined ? {} : { lostRunGraceMs: deps.lostRunGraceMs }),
      ...(deps.cancelGraceMs === undefined ? {} : { cancelGraceMs: deps.cancelGraceMs }),
    });
    const ingest = new Ingest({
      store,
      topics,
      keys,
      events,
      clock,
      logger: logger.child({ component: 'ingest' }),
      sendCommand,
      onNodeOnline: (nodeId) => dispatcher.background(dispatcher.onNodeOnline(nodeId), `re-sending to ${nodeId}`),
      onJobsChanged: (jobIds) => dispatcher.pumpInBackground(jobIds),
      ...(deps.ingestFlushIntervalMs === undefined ? {} : { flushIntervalMs: deps.ingestFlushIntervalMs }),
    });
    // Runs after the MQTT link closed (cleanups run in reverse) and before the database does.
    cleanups.push(['dispatcher', () => dispatcher.close()]);
    const connectedLink = await connectMqttLink({
      url: brokerUrl,
      ...(broker === undefined ? {} : { username: MASTER_MQTT_USERNAME, password: dataDir.masterMqttPassword }),
      topics,
      shared: config.mqttShared,
      masterId: dataDir.masterId,
      logger: logger.child({ component: 'mqtt' }),
      onMessage: (topic, payload) => ingest.accept(topic, payload),
    });
    linkRef.current = connectedLink;
    cleanups.push([
      'mqtt',
      async () => {
        // Nothing new arrives once the link is closed; then what did arrive is stored.
        await connectedLink.close();
        await ingest.flush();
      },
    ]);

    if (config.mqttDynsec && config.mqttUrl !== undefined) {
      const sync = new MosquittoSync(connectedLink.client, {
        topicPrefix: config.topicPrefix,
        logger: logger.child({ component: 'mosquitto-sync' }),
      });
      syncRef.current = sync;
      cleanups.push(['mosquitto-sync', () => Promise.resolve(sync.close())]);
      const url = new URL(config.mqttUrl);
      const [username, password] = [decodeURIComponent(url.username), decodeURIComponent(url.password)];
      // Mosquitto disconnects a client whose roles change, this one included: on the first start
      // the answer to adding the master role can be lost with the connection. Once the link is
      // back the role is there and a second pass finds nothing to do.
      const reconnected = new Promise<void>((resolve) => {
        connectedLink.client.once('connect', () => resolve());
        setTimeout(resolve, 5000).unref();
      });
      try {
        await sync.ensureMaster(username, password);
      } catch (err) {
        logger.info({ err }, 'the broker reconnected the master while granting its role; checking again');
        await reconnected;
        await brokerSecurity('set the master rights', (s) => s.ensureMaster(username, password));
      }
    }
    const enrollment = new Enrollment({
      store,
      keys,
      masterSecret: dataDir.masterSecret,
      clock,
      events,
      topicPrefix: config.topicPrefix,
      agentMqttUrl,
      disconnectNode,
      setBrokerCredentials: (nodeId, password) =>
        brokerSecurity("accept the node's credentials", (sync) => sync.upsertNode(nodeId, password)),
      audit,
    });
    if (store.dialect === 'postgres') {
      const relay = await startPgRelay({
        store,
        events,
        logger: logger.child({ component: 'live-relay' }),
        onRemoteNode: (nodeId) => {
          keys.reload([nodeId]).catch((err: unknown) => logger.warn({ err, nodeId }, 're-reading a node failed'));
        },
      });
      cleanups.push(['live relay', () => relay.close()]);
    }
    const hub = new LiveHub({
      store,
      events,
      dispatcher,
      nodes,
      logger: logger.child({ component: 'live' }),
      ...(deps.liveMaxBufferedBytes === undefined ? {} : { maxBufferedBytes: deps.liveMaxBufferedBytes }),
      ...(deps.liveReplayStallMs === undefined ? {} : { replayStallMs: deps.liveReplayStallMs }),
    });
    const recheck = (): void => {
      hub.recheckCredentials().catch((err: unknown) => logger.warn({ err }, 'live: checking credentials failed'));
    };
    auth.onRevocation(recheck);
    // Another master's revocations reach this one's open connections within this interval.
    const recheckTimer = setInterval(recheck, deps.liveRecheckIntervalMs ?? 30_000);
    recheckTimer.unref();
    cleanups.push(['live credentials', () => Promise.resolve(clearInterval(recheckTimer))]);
    const indexer = new LineIndexer({
      store,
      events,
      logger: logger.child({ component: 'search-index' }),
      ...(deps.indexDelayMs === undefined ? {} : { delayMs: deps.indexDelayMs }),
    });
    cleanups.push(['search index', () => Promise.resolve(indexer.close())]);
    await indexer.scan();
    const retention = new Retention({
      store,
      audit,
      clock,
      logger: logger.child({ component: 'retention' }),
      maxAgeDays: config.retentionDays ?? null,
      maxOutputBytes: config.retentionMaxBytes ?? null,
      schedule: config.retentionSchedule,
      sqlitePath: store.sqlitePath,
    });
    retention.start();
    cleanups.push(['retention', () => retention.close()]);
    const metrics = new MasterMetrics({
      store,
      ingest,
      hub,
      indexer,
      retention,
      ...(broker === undefined ? {} : { embeddedBroker: broker }),
    });
    let httpPort = config.httpPort;
    const allowedOrigins = (): readonly string[] => {
      const local = [
        `http://${connectHost(config.httpHost)}:${httpPort}`,
        `http://localhost:${httpPort}`,
        `http://127.0.0.1:${httpPort}`,
      ];
      return [
        ...(config.publicUrl === undefined ? [] : [new URL(config.publicUrl).origin]),
        ...local,
        ...config.allowedOrigins,
      ];
    };
    const app = await buildApi({
      logger: logger.child({ component: 'http' }),
      store,
      auth,
      audit,
      scripts,
      history: new History(store.db, dispatcher),
      search: new LogSearch(store.db, store.dialect),
      retention,
      metrics,
      dispatcher,
      nodes,
      enrollment,
      hub,
      brokerReady: () => connectedLink.connected(),
      trustProxy: config.trustProxy,
      allowedOrigins,
      publicDir: deps.publicDir ?? DEFAULT_PUBLIC_DIR,
      secureCookies: config.publicUrl?.startsWith('https:') ?? false,
      maxConnections: config.httpMaxConnections,
      ...(deps.httpTimeouts === undefined ? {} : { timeouts: deps.httpTimeouts }),
      ...(deps.onRoute === undefined ? {} : { onRoute: deps.onRoute }),
    });
    cleanups.push(['http', () => app.close()]);
    // Runs first at shutdown: live clients hear 4503 before the HTTP server goes.
    cleanups.push(['live hub', () => Promise.resolve(hub.close())]);
    await app.listen({ host: config.httpHost, port: config.httpPort });
    const address = app.server.address();
    httpPort = typeof address === 'object' && address !== null ? address.port : config.httpPort;

    const sweepIntervalMs = deps.sweepIntervalMs ?? 5000;
    if (sweepIntervalMs > 0) {
      const timer = setInterval(() => {
        dispatcher.sweep().catch((err: unknown) => logger.error({ err }, 'sweeping runs failed'));
      }, sweepIntervalMs);
      timer.unref();
      cleanups.push(['sweeper', () => Promise.resolve(clearInterval(timer))]);
    }
    // Runs sent just before a restart may never have reached their node: offer them again.
    for (const node of await nodes.list({ online: true })) {
      dispatcher.onNodeOnline(node.nodeId).catch((err: unknown) => logger.error({ err }, 're-sending runs failed'));
    }

    return {
      config,
      url: `http://${connectHost(config.httpHost)}:${httpPort}`,
      httpPort,
      brokerUrl,
      agentMqttUrl: agentMqttUrl(undefined),
      embeddedBroker: broker,
      admin,
      store,
      events,
      ingest,
      dispatcher,
      enrollment,
      nodes,
      auth,
      audit,
      scripts,
      indexer,
      retention,
      metrics,
      hub,
      app,
      sweep: () => dispatcher.sweep(),
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** Where to connect to reach a listener bound to `host`. */
function connectHost(host: string): string {
  if (isWildcard(host)) return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function hostOnly(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined || hostHeader === '') return undefined;
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  return hostHeader.split(':')[0];
}

function stripCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString().replace(/\/$/, '');
}
