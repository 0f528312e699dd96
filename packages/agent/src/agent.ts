import { join } from 'node:path';
import { Topics, type AgentEvent } from '@edgestelle/protocol';
import pino, { type Logger } from 'pino';
import { AckHandler } from './acks.ts';
import { AgentLink } from './agent-link.ts';
import { CommandHandlers } from './commands.ts';
import type { AgentConfig } from './config.ts';
import { Executor, type RunExecutor } from './executor.ts';
import { CommandInbox } from './inbox.ts';
import { Ledger } from './ledger.ts';
import { Outbox } from './outbox.ts';
import type { PtyModule } from './pty.ts';
import { recoverRuns } from './recovery.ts';
import { RunAdmission } from './run-admission.ts';
import { RunAnnouncer } from './run-announcer.ts';
import { RunRecords } from './run-records.ts';
import { RunScheduler } from './run-scheduler.ts';
import { Spool } from './spool.ts';
import { ensureStateDir, resolveNodeId, stateFiles } from './state-dir.ts';
import { StateMachine, type Transitions } from './state-machine.ts';
import { StatePublisher } from './state-publisher.ts';
import { AgentCounters, type AgentStats } from './stats.ts';

export type { AgentStats, RejectionCode, RejectionCounts } from './stats.ts';

export interface AgentDeps {
  logger?: Logger;
  /** Wall clock in ms: freshness, deadlines, timestamps. */
  now?: () => number;
  /** Reconnect backoff; tests shorten it. */
  backoff?: { initialMs: number; maxMs: number; random?: () => number };
  /** How long sent output may go unacknowledged before it is sent again. */
  ackTimeoutMs?: number;
  keepaliveSec?: number;
  /** Chunk cut: size and time. */
  chunkMaxBytes?: number;
  chunkFlushMs?: number;
  /** Publishes awaiting PUBACK at most. */
  publishWindow?: number;
  spoolSegmentMaxBytes?: number;
  loadPty?: () => Promise<PtyModule | undefined>;
  /**
   * What starts a run's process; the real executor by default. The fleet benchmark swaps in
   * one that answers without forking, so one machine can stand for 10,000 nodes.
   */
  executor?: RunExecutor;
}

export interface Agent {
  readonly nodeId: string;
  start(): Promise<void>;
  /** Stops runs (reported `interrupted`), publishes the offline state, disconnects. */
  stop(): Promise<void>;
  stats(): AgentStats;
}

const DEFAULT_CHUNK_MAX_BYTES = 32 * 1024;
const DEFAULT_CHUNK_FLUSH_MS = 25;

/** An agent is started once and stopped once; starting again takes a new one. */
type AgentState = 'created' | 'starting' | 'started' | 'stopping' | 'stopped';
const agentTransitions: Transitions<AgentState> = {
  created: ['starting', 'stopping'],
  starting: ['started', 'stopping'],
  started: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
};

/** The files a started agent holds open and the parts that work on them. */
interface Parts {
  readonly spool: Spool;
  readonly ledger: Ledger;
  readonly outbox: Outbox;
  readonly records: RunRecords;
  readonly scheduler: RunScheduler;
  readonly inbox: CommandInbox;
}

/**
 * The agent: one MQTT connection, the run ledger, the executor and the spool, wired together
 * here; what each part does is in its own module. `main` builds the config and calls this;
 * tests call it directly.
 */
export function createAgent(config: AgentConfig, deps: AgentDeps = {}): Agent {
  const baseLogger = deps.logger ?? pino({ level: config.logLevel });
  const tightened = ensureStateDir(config.stateDir);
  if (tightened !== undefined) baseLogger.warn({ stateDir: config.stateDir }, tightened);
  const nodeId = resolveNodeId(config.stateDir, config.nodeId);
  const logger = baseLogger.child({ nodeId });
  const now = deps.now ?? Date.now;
  const topics = new Topics(config.topicPrefix);
  const executor: RunExecutor =
    deps.executor ?? new Executor({ logger, now, ...(deps.loadPty === undefined ? {} : { loadPty: deps.loadPty }) });
  const lifecycle = new StateMachine<AgentState>(`agent ${nodeId}`, 'created', agentTransitions);
  const counters = new AgentCounters();
  const link = new AgentLink({
    config,
    nodeId,
    topics,
    logger,
    now,
    backoff: deps.backoff,
    keepaliveSec: deps.keepaliveSec,
  });
  const publishEvent = (event: AgentEvent): void => link.publishEvent(event);
  let parts: Parts | undefined;
  let state: StatePublisher | undefined;

  /** Reads the spool and ledger back and wires the parts; a start that fails closes them again. */
  function open(): Parts {
    const spool = new Spool({
      dir: join(config.stateDir, stateFiles.spool),
      maxBytes: config.spoolMaxBytes,
      ...(deps.spoolSegmentMaxBytes === undefined ? {} : { segmentMaxBytes: deps.spoolSegmentMaxBytes }),
      onCut: (runId, detail) => logger.warn({ runId, detail }, 'spool: cut a damaged run'),
    });
    let ledger: Ledger | undefined;
    try {
      ledger = new Ledger({
        path: join(config.stateDir, stateFiles.ledger),
        now,
        onInvalidLine: (line) => logger.warn({ line }, 'ledger: skipped an unreadable line'),
      });
      return wire(spool, ledger);
    } catch (err) {
      ledger?.close();
      spool.close();
      throw err;
    }
  }

  /** Ends what the last agent left behind (recovery.ts) and builds the parts on the open files. */
  function wire(spool: Spool, ledger: Ledger): Parts {
    const outbox = new Outbox({
      spool,
      publish: (record) => link.publishRecord(record),
      logger,
      now,
      ...(deps.publishWindow === undefined ? {} : { windowSize: deps.publishWindow }),
      ...(deps.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: deps.ackTimeoutMs }),
    });
    const records = new RunRecords({ spool, ledger, logger, now, publishEvent });
    recoverRuns({ spool, ledger, records, logger, now });
    const scheduler = new RunScheduler({
      maxConcurrentRuns: config.maxConcurrentRuns,
      executor,
      spool,
      ledger,
      outbox,
      records,
      announcer: new RunAnnouncer(publishEvent),
      counters,
      logger,
      now,
      chunkMaxBytes: deps.chunkMaxBytes ?? DEFAULT_CHUNK_MAX_BYTES,
      chunkFlushMs: deps.chunkFlushMs ?? DEFAULT_CHUNK_FLUSH_MS,
      stopping: () => lifecycle.state !== 'started',
    });
    const admission = new RunAdmission({
      executor,
      spool,
      ledger,
      outbox,
      records,
      scheduler,
      counters,
      logger,
      now,
      publishEvent,
    });
    const handlers = new CommandHandlers({
      admission,
      scheduler,
      acks: new AckHandler(spool, ledger, outbox),
      publishEvent,
    });
    const inbox = new CommandInbox({
      topics,
      nodeId,
      config,
      counters,
      logger,
      now,
      dispatch: (command) => handlers.dispatch(command),
    });
    return { spool, ledger, outbox, records, scheduler, inbox };
  }

  return {
    nodeId,
    async start() {
      lifecycle.to('starting');
      const opened = open();
      parts = opened;
      const pty = await executor.ptyAvailable();
      // A stop that came meanwhile has closed the files: this throws rather than connect.
      lifecycle.to('started');
      const published = new StatePublisher({
        link,
        config,
        executor,
        pty,
        runningRuns: () => opened.scheduler.runningRuns,
      });
      state = published;
      link.connect({
        willFor: () => published.willFor(),
        onConnected: () => {
          published.publish();
          opened.outbox.connected();
        },
        onDisconnected: () => opened.outbox.disconnected(),
        onMessage: (topic, payload) => opened.inbox.receive(topic, payload),
      });
      published.startHeartbeat();
      logger.info({ stateDir: config.stateDir, mqttUrl: config.mqttUrl }, 'agent started');
    },
    async stop() {
      if (lifecycle.state === 'stopping' || lifecycle.state === 'stopped') return;
      lifecycle.to('stopping');
      state?.stopHeartbeat();
      await parts?.scheduler.interruptAll();
      await parts?.inbox.drained();
      parts?.outbox.stop();
      if (state !== undefined) await link.close(state.lastWords());
      // Commands that came while the connection closed (a run waiting for its ledger's sync)
      // finish before the spool and ledger close under them.
      await parts?.inbox.drained();
      parts?.records.close();
      parts?.spool.close();
      parts?.ledger.close();
      lifecycle.to('stopped');
      logger.info('agent stopped');
    },
    stats(): AgentStats {
      return {
        nodeId,
        connectionSeq: state?.connectionSeq ?? 0,
        connected: link.connected,
        rejections: { ...counters.rejections },
        redeliveries: counters.redeliveries,
        spawns: counters.spawns,
        runningRuns: parts?.scheduler.runningRuns ?? 0,
        queuedRuns: parts?.scheduler.queuedRuns ?? 0,
        spoolBytes: parts?.spool.bytes ?? 0,
        published: parts?.outbox.published ?? 0,
      };
    },
  };
}
