import { fileURLToPath } from 'node:url';
import { Topics } from '@edgestelle/protocol';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { HttpTimeouts } from './api/api-deps.ts';
import { startHttp } from './api/start-http.ts';
import { AuditLog } from './audit/audit-log.ts';
import type { AdminBootstrap } from './auth/admin-bootstrap.ts';
import { AuthService } from './auth/auth-service.ts';
import { BrokerAccess } from './broker/broker-access.ts';
import type { EmbeddedBroker } from './broker/embedded-broker.ts';
import { connectBrokerLink, startBroker } from './broker/start-broker.ts';
import { systemClock, type Clock } from './clock.ts';
import type { MasterConfig } from './config.ts';
import { openDataDir } from './data-dir.ts';
import { openStore, redactUrl } from './db/connect.ts';
import type { Store } from './db/store.ts';
import { MasterEvents } from './events.ts';
import { startCredentialRecheck } from './live/credential-recheck.ts';
import { LiveHub } from './live/live-hub.ts';
import { startLiveRelay } from './live/pg-relay.ts';
import { createMasterLogger } from './master-logger.ts';
import { MasterMetrics } from './metrics/metrics.ts';
import { NodeKeys } from './node-keys.ts';
import { Enrollment } from './nodes/enrollment.ts';
import { NodeService } from './nodes/node-service.ts';
import { Retention } from './retention/retention.ts';
import { commandSender } from './runs/command-sender.ts';
import { Dispatcher } from './runs/dispatcher.ts';
import { History } from './runs/history.ts';
import { Ingest } from './runs/ingest.ts';
import { ShellService } from './shell/shell-service.ts';
import { resendAfterRestart } from './runs/resend-after-restart.ts';
import { SecretEnvBox } from './runs/secret-env.ts';
import { startSweeper } from './runs/sweeper.ts';
import { startScheduler } from './schedules/start-scheduler.ts';
import type { ScheduleFiring } from './schedules/schedule-firing.ts';
import type { ScheduleService } from './schedules/schedule-service.ts';
import { ScriptLibrary } from './scripts/script-library.ts';
import { LineIndexer } from './search/line-indexer.ts';
import { LogSearch } from './search/log-search.ts';
import { ShutdownSteps } from './shutdown-steps.ts';
import { startWebhooks, type WebhookTimings, type Webhooks } from './webhooks/start-webhooks.ts';

export interface MasterDeps {
  clock?: Clock;
  /** A ready logger (used as it is); otherwise one is built with the master's redaction rules. */
  logger?: Logger;
  /** Where the master's own logger writes (default stdout): tests capture log lines here. */
  logDestination?: DestinationStream;
  /** The console's static files; default packages/master/public. */
  publicDir?: string;
  /** The one-file CLI and agent served under /downloads/; default packages/master/downloads. */
  downloadsDir?: string;
  onRoute?: (route: { method: string | string[]; url: string }) => void;
  ingestFlushIntervalMs?: number;
  /** How long a shell session waits for the agent's answer to its open. */
  shellOpenTimeoutMs?: number;
  /** Below the settings' 10 s floor, for tests of the idle and length limits. */
  shellIdleTimeoutMs?: number;
  shellMaxSessionMs?: number;
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
  /** How often due schedules are looked for (ms); 0 turns the timer off (tests call schedules.tick()). */
  scheduleTickMs?: number;
  /** Webhook delivery timings; tests shorten them or turn the timers off. */
  webhooks?: WebhookTimings;
}

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
  readonly schedules: ScheduleService;
  /** Fires what is due (`tick()`, the timer's every second) and prunes old fire records. */
  readonly scheduleFiring: ScheduleFiring;
  readonly webhooks: Webhooks;
  readonly app: FastifyInstance;
  sweep(): Promise<number>;
  close(): Promise<void>;
}

function isShellTopic(topics: Topics, topic: string): boolean {
  try {
    return topics.parse(topic).channel === 'shell';
  } catch {
    // Not a topic of ours at all: ingest refuses it, and counts and logs why.
    return false;
  }
}

const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));
const DEFAULT_DOWNLOADS_DIR = fileURLToPath(new URL('../downloads', import.meta.url));

/**
 * Everything `edgestelle master` runs, wired from one config: data dir and secrets, database
 * and migrations, the first admin, the broker (embedded, or a client of an external one),
 * ingest, dispatcher, sweeper, live hub and the HTTP API. Tests call this; main.ts adds
 * signals and the banner.
 *
 * Each part registers its shutdown step as it starts; close() runs them in reverse: sweeper,
 * live hub (clients hear 4503), http, retention, search index, live credentials, live relay,
 * mosquitto-sync, mqtt (the link closes, then ingest stores what arrived), dispatcher (waits
 * for its background work), broker, database.
 */
export async function createMaster(config: MasterConfig, deps: MasterDeps = {}): Promise<Master> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createMasterLogger(config.logLevel, deps.logDestination);
  const topics = new Topics(config.topicPrefix);
  const dataDir = await openDataDir(config.dataDir, config.masterKeyFile, logger);
  const shutdown = new ShutdownSteps(logger);
  try {
    const store = await openStore(config.databaseUrl, logger.child({ component: 'db' }));
    shutdown.add('database', () => store.close());
    logger.info({ database: redactUrl(config.databaseUrl), dialect: store.dialect }, 'database ready');
    const audit = new AuditLog(store.db, clock);
    const auth = new AuthService(store, dataDir.masterSecret, clock, audit);
    const scripts = new ScriptLibrary(store.db, clock, audit);
    const admin = await auth.bootstrapAdmin(dataDir.path, config.adminPassword);
    const events = new MasterEvents();
    const keys = new NodeKeys(store, dataDir.masterSecret);
    await keys.reload();

    const brokerAccess = new BrokerAccess();
    const nodes = new NodeService({
      store,
      keys,
      clock,
      events,
      disconnectNode: (nodeId) => brokerAccess.disconnectNode(nodeId),
      removeBrokerCredentials: (nodeId) => brokerAccess.removeNode(nodeId),
      audit,
    });
    const broker = await startBroker({
      config,
      topics,
      masterPassword: dataDir.masterMqttPassword,
      checkNode: (nodeId, password) => nodes.checkBrokerPassword(nodeId, password),
      connectDeadlineMs: deps.mqttConnectDeadlineMs,
      access: brokerAccess,
      shutdown,
      logger,
    });

    const sendCommand = commandSender({ keys, topics, link: brokerAccess });
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
    const shell = new ShellService({
      store,
      keys,
      topics,
      nodes,
      audit,
      clock,
      logger: logger.child({ component: 'shell' }),
      sendCommand,
      settings: {
        idleTimeoutMs: deps.shellIdleTimeoutMs ?? config.shellIdleTimeoutSec * 1000,
        maxSessionMs: deps.shellMaxSessionMs ?? config.shellMaxSessionSec * 1000,
        openTimeoutMs: deps.shellOpenTimeoutMs ?? 10_000,
        recordingMaxBytes: 16 * 1024 * 1024,
      },
    });
    const ingest = new Ingest({
      store,
      topics,
      keys,
      events,
      clock,
      logger: logger.child({ component: 'ingest' }),
      sendCommand,
      onNodeOnline: (nodeId) => dispatcher.onNodeOnlineInBackground(nodeId),
      onJobsChanged: (jobIds) => dispatcher.pumpInBackground(jobIds),
      ...(deps.ingestFlushIntervalMs === undefined ? {} : { flushIntervalMs: deps.ingestFlushIntervalMs }),
    });
    // Runs after the MQTT link closed and before the broker and the database do.
    shutdown.add('dispatcher', () => dispatcher.close());
    const link = await connectBrokerLink({
      config,
      broker,
      topics,
      masterId: dataDir.masterId,
      masterPassword: dataDir.masterMqttPassword,
      onMessage: (topic, payload) => {
        // Shell sessions are relayed at once, never batched with what is stored.
        if (!isShellTopic(topics, topic)) return ingest.accept(topic, payload);
        shell.receive(topic, payload);
        return Promise.resolve();
      },
      afterClose: () => ingest.flush(),
      access: brokerAccess,
      shutdown,
      logger,
    });
    const enrollment = new Enrollment({
      store,
      keys,
      masterSecret: dataDir.masterSecret,
      clock,
      events,
      topicPrefix: config.topicPrefix,
      agentMqttUrl: broker.agentMqttUrl,
      disconnectNode: (nodeId) => brokerAccess.disconnectNode(nodeId),
      setBrokerCredentials: (nodeId, password) => brokerAccess.setNodeCredentials(nodeId, password),
      audit,
    });

    await startLiveRelay({ store, events, keys, logger, shutdown });
    const hub = new LiveHub({
      store,
      events,
      dispatcher,
      nodes,
      logger: logger.child({ component: 'live' }),
      ...(deps.liveMaxBufferedBytes === undefined ? {} : { maxBufferedBytes: deps.liveMaxBufferedBytes }),
      ...(deps.liveReplayStallMs === undefined ? {} : { replayStallMs: deps.liveReplayStallMs }),
    });
    startCredentialRecheck({ hub, auth, intervalMs: deps.liveRecheckIntervalMs, logger, shutdown });
    const indexer = new LineIndexer({
      store,
      events,
      logger: logger.child({ component: 'search-index' }),
      ...(deps.indexDelayMs === undefined ? {} : { delayMs: deps.indexDelayMs }),
    });
    shutdown.add('search index', () => Promise.resolve(indexer.close()));
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
    shutdown.add('retention', () => retention.close());
    const metrics = new MasterMetrics({
      store,
      ingest,
      hub,
      indexer,
      retention,
      ...(broker.embedded === undefined ? {} : { embeddedBroker: broker.embedded }),
    });
    const scheduler = startScheduler({
      store,
      dispatcher,
      events,
      clock,
      audit,
      scripts,
      logger: logger.child({ component: 'scheduler' }),
      tickMs: deps.scheduleTickMs,
      shutdown,
    });
    const webhooks = startWebhooks({
      store,
      events,
      dispatcher,
      clock,
      audit,
      masterSecret: dataDir.masterSecret,
      logger: logger.child({ component: 'webhooks' }),
      timings: deps.webhooks ?? {},
      shutdown,
    });
    const http = await startHttp(
      config,
      {
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
        schedules: scheduler.schedules,
        webhooks: webhooks.service,
        shell,
        brokerReady: () => link.connected(),
        publicDir: deps.publicDir ?? DEFAULT_PUBLIC_DIR,
        downloadsDir: deps.downloadsDir ?? DEFAULT_DOWNLOADS_DIR,
        ...(deps.httpTimeouts === undefined ? {} : { timeouts: deps.httpTimeouts }),
        ...(deps.onRoute === undefined ? {} : { onRoute: deps.onRoute }),
      },
      shutdown,
    );

    // Registered after http, so it runs before it: sessions end, and their rows are stored, first.
    shutdown.add('shell sessions', () => shell.close());
    startSweeper({ dispatcher, intervalMs: deps.sweepIntervalMs, logger, shutdown });
    await resendAfterRestart({ dispatcher, nodes, logger });

    return {
      config,
      url: http.url,
      httpPort: http.port,
      brokerUrl: broker.url,
      agentMqttUrl: broker.agentMqttUrl(undefined),
      embeddedBroker: broker.embedded,
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
      schedules: scheduler.schedules,
      scheduleFiring: scheduler.firing,
      webhooks,
      app: http.app,
      sweep: () => dispatcher.sweep(),
      close: () => shutdown.run(),
    };
  } catch (err) {
    await shutdown.run();
    throw err;
  }
}
