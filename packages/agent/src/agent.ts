import { Topics } from '@edgestelle/protocol';
import pino from 'pino';
import { AgentLink } from './agent-link.ts';
import { openParts, type AgentParts } from './agent-parts.ts';
import type { AgentConfig } from './config.ts';
import type { AgentDeps } from './agent-deps.ts';
import { AgentError, AgentErrorCode } from './errors.ts';
import { Executor, type RunExecutor } from './executor.ts';
import { ensureStateDir, resolveNodeId } from './state-dir.ts';
import { StateMachine, type Transitions } from './state-machine.ts';
import { StatePublisher } from './state-publisher.ts';
import { AgentCounters, type AgentStats } from './stats.ts';

export type { AgentDeps } from './agent-deps.ts';
export type { AgentStats, RejectionCode, RejectionCounts } from './stats.ts';

export interface Agent {
  readonly nodeId: string;
  start(): Promise<void>;
  /** Stops runs (reported `interrupted`), publishes the offline state, disconnects. */
  stop(): Promise<void>;
  /**
   * Settles when the agent gives up by itself (the broker keeps refusing its credentials: the
   * node was revoked); the caller then stops it. Never settles otherwise.
   */
  readonly gaveUp: Promise<AgentError>;
  stats(): AgentStats;
}

/** An agent is started once and stopped once; starting again takes a new one. */
type AgentState = 'created' | 'starting' | 'started' | 'stopping' | 'stopped';
const agentTransitions: Transitions<AgentState> = {
  created: ['starting', 'stopping'],
  starting: ['started', 'stopping'],
  started: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
};

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
    deps.executor ??
    new Executor({ logger, now, nodeId, ...(deps.loadPty === undefined ? {} : { loadPty: deps.loadPty }) });
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
  let parts: AgentParts | undefined;
  let statePublisher: StatePublisher | undefined;
  let giveUp: (error: AgentError) => void = () => undefined;
  const gaveUp = new Promise<AgentError>((resolve) => {
    giveUp = resolve;
  });

  return {
    nodeId,
    gaveUp,
    async start() {
      lifecycle.to('starting');
      const opened = openParts({
        config,
        deps,
        logger,
        now,
        nodeId,
        topics,
        executor,
        link,
        counters,
        stopping: () => lifecycle.state !== 'started',
      });
      parts = opened;
      const pty = await executor.ptyKind();
      // A stop that came meanwhile has closed the files: this throws rather than connect.
      lifecycle.to('started');
      const publisher = new StatePublisher({
        link,
        config,
        executor,
        pty,
        runningRuns: () => opened.scheduler.runningRuns,
      });
      statePublisher = publisher;
      link.connect({
        willFor: () => publisher.willFor(),
        onConnected: () => {
          publisher.publish();
          opened.outbox.connected();
        },
        onDisconnected: () => opened.outbox.disconnected(),
        onMessage: (topic, payload) => opened.inbox.receive(topic, payload),
        onGiveUp: (reason) =>
          giveUp(
            new AgentError(
              AgentErrorCode.brokerRefused,
              `${reason}: this node (${nodeId}) was revoked, or its credentials are not the broker's. Enroll it again with a join token made for it (edgestelle join-token create --node ${nodeId}; edgestelle agent enroll --master URL --token TOKEN --node-id ${nodeId}), then start the agent`,
            ),
          ),
      });
      publisher.startHeartbeat();
      logger.info({ stateDir: config.stateDir, mqttUrl: config.mqttUrl }, 'agent started');
    },
    async stop() {
      if (lifecycle.state === 'stopping' || lifecycle.state === 'stopped') return;
      lifecycle.to('stopping');
      statePublisher?.stopHeartbeat();
      parts?.shells.closeAll('the agent is stopping');
      await parts?.scheduler.interruptAll();
      await parts?.inbox.drained();
      parts?.outbox.stop();
      if (statePublisher !== undefined) await link.close(statePublisher.lastWords());
      // Commands that came while the connection closed (a run waiting for its ledger's sync)
      // finish before the spool and ledger close under them.
      await parts?.inbox.drained();
      parts?.close();
      lifecycle.to('stopped');
      logger.info('agent stopped');
    },
    stats(): AgentStats {
      return {
        nodeId,
        connectionSeq: statePublisher?.connectionSeq ?? 0,
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
