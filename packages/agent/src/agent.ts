import { join } from 'node:path';
import {
  Topics,
  isProtocolError,
  type ProtocolErrorCode,
  type AgentEvent,
  type ExitedEvent,
  type Command,
  type RunCommand,
  type StateMessage,
} from '@edgestelle/protocol';
import { DEFAULT_MAX_CLOCK_SKEW_MS, openMessage, sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import pino, { type Logger } from 'pino';
import { Chunker } from './chunker.ts';
import type { AgentConfig } from './config.ts';
import { Connection, type Will } from './connection.ts';
import { Executor, type Execution, type ExecutionResult, type RunExecutor } from './executor.ts';
import { collectFacts } from './facts.ts';
import { Ledger, type LedgerEntry } from './ledger.ts';
import { Outbox } from './outbox.ts';
import { leadsProcessGroup, signalGroup } from './process-group.ts';
import type { PtyModule } from './pty.ts';
import { Spool, type RunSpool, type SpoolRecord } from './spool.ts';
import { ensureStateDir, nextConnectionSeq, resolveNodeId, stateFiles } from './state-dir.ts';

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

/** Why commands were refused, by protocol error code; `misdirected` is a message on a topic that is not ours. */
export type RejectionCode = ProtocolErrorCode | 'misdirected';
export type RejectionCounts = Partial<Record<RejectionCode, number>>;

export interface AgentStats {
  readonly nodeId: string;
  readonly connectionSeq: number;
  readonly connected: boolean;
  readonly rejections: Readonly<RejectionCounts>;
  /** Run commands received again for a run id the ledger knows, answered with its state. */
  readonly redeliveries: number;
  readonly spawns: number;
  readonly runningRuns: number;
  readonly queuedRuns: number;
  readonly spoolBytes: number;
  readonly published: number;
}

export interface Agent {
  readonly nodeId: string;
  start(): Promise<void>;
  /** Stops runs (reported `interrupted`), publishes the offline state, disconnects. */
  stop(): Promise<void>;
  stats(): AgentStats;
}

interface ActiveRun {
  readonly command: RunCommand;
  execution: Execution | undefined;
  spoolRun: RunSpool | undefined;
  chunker: Chunker | undefined;
  exited: boolean;
  /** A cancel that came while the process was being started: it is stopped once it exists. */
  cancelRequested: boolean;
  /** Tells the master how far the run got (see ANNOUNCE_AFTER_MS) unless `exited` will. */
  announceTimer: NodeJS.Timeout | undefined;
  /** `accepted` went out alone: a start from now on is published at once. */
  announcedAccepted: boolean;
  finished: Promise<void>;
  finish: () => void;
}

const DEFAULT_CHUNK_MAX_BYTES = 32 * 1024;
const DEFAULT_CHUNK_FLUSH_MS = 25;
const SPOOL_SYNC_INTERVAL_MS = 1000;
/**
 * Each event implies the ones before it (`exited` carries the start time, `started` implies
 * `accepted`), so a run is announced only if it is still going this long after it came:
 * `started` if it runs, else `accepted` (waiting for a slot, a slow start), then `started` at
 * once when it starts. A quick run, most of a big fan-out, sends `exited` alone: one message to
 * the master where each step once sent its own three.
 */
const ANNOUNCE_AFTER_MS = 100;

/**
 * The agent: one MQTT connection, the run ledger, the executor and the spool, wired by one
 * dispatch of commands. `main` builds the config and calls this; tests call it directly.
 */
export function createAgent(config: AgentConfig, deps: AgentDeps = {}): Agent {
  const baseLogger = deps.logger ?? pino({ level: config.logLevel });
  const tightened = ensureStateDir(config.stateDir);
  if (tightened !== undefined) baseLogger.warn({ stateDir: config.stateDir }, tightened);
  const nodeId = resolveNodeId(config.stateDir, config.nodeId);
  const logger = baseLogger.child({ nodeId });
  const now = deps.now ?? Date.now;
  const topics = new Topics(config.topicPrefix);
  const cmdTopic = topics.node(nodeId, 'cmd');
  const evtTopic = topics.node(nodeId, 'evt');
  const stateTopic = topics.node(nodeId, 'state');
  const sealingKey: SealingKey = { keyId: config.keyId, key: config.nodeKey };
  const executor =
    deps.executor ?? new Executor({ logger, now, ...(deps.loadPty === undefined ? {} : { loadPty: deps.loadPty }) });

  const rejections: RejectionCounts = {};
  let redeliveries = 0;
  let spawns = 0;
  let connectionSeq = 0;
  let beat = 0;
  let stopping = false;
  const active = new Map<string, ActiveRun>();
  const queue: ActiveRun[] = [];
  let ptyAvailable = false;

  let spool: Spool | undefined;
  let ledger: Ledger | undefined;
  let outbox: Outbox | undefined;
  let connection: Connection | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let syncTimer: NodeJS.Timeout | undefined;
  let commandChain: Promise<void> = Promise.resolve();

  const seal = (topic: string, message: AgentEvent | StateMessage): Buffer =>
    sealMessage(topic, message, sealingKey, { nowMs: now() });

  /** accepted, started, rejected and pong: plain QoS 1, not spooled (the master asks again). */
  function publishEvent(event: AgentEvent): void {
    if (connection === undefined || !connection.connected) return;
    connection.publish(evtTopic, seal(evtTopic, event)).catch((err: unknown) => {
      logger.debug({ err, kind: event.kind }, 'event not published');
    });
  }

  function publishRecord(record: SpoolRecord): Promise<void> {
    if (connection === undefined) return Promise.reject(new Error('not connected'));
    const event: AgentEvent =
      record.kind === 'exited'
        ? record.event
        : { kind: 'output', runId: record.runId, seq: record.seq, stream: record.stream, data: record.data };
    return connection.publish(evtTopic, seal(evtTopic, event));
  }

  function stateMessage(online: boolean): StateMessage {
    const base = { kind: 'state' as const, online, connectionSeq, beat };
    if (!online) return base;
    return {
      ...base,
      facts: collectFacts({
        tags: config.tags,
        stateDir: config.stateDir,
        runningRuns: [...active.values()].filter((run) => run.execution !== undefined).length,
        maxConcurrentRuns: config.maxConcurrentRuns,
        pty: ptyAvailable,
        runAs: executor.runAsAvailable(),
      }),
    };
  }

  function publishState(): void {
    if (connection === undefined || !connection.connected) return;
    connection.publish(stateTopic, seal(stateTopic, stateMessage(true)), true).catch((err: unknown) => {
      logger.debug({ err }, 'state not published');
    });
  }

  function willFor(): Will {
    connectionSeq = nextConnectionSeq(config.stateDir);
    beat = 0;
    return { topic: stateTopic, payload: seal(stateTopic, { kind: 'state', online: false, connectionSeq, beat: 0 }) };
  }

  function reject(code: RejectionCode, context: Record<string, unknown>, message: string): void {
    const count = (rejections[code] ?? 0) + 1;
    rejections[code] = count;
    logger.warn({ ...context, code, count }, `command rejected: ${message}`);
  }

  function onMessage(topic: string, payload: Buffer): void {
    let opened;
    try {
      opened = openMessage(topics, topic, payload, {
        keyFor: (topicNodeId, keyId) => (topicNodeId === nodeId && keyId === config.keyId ? config.nodeKey : undefined),
        nowMs: now(),
        maxSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
      });
    } catch (err) {
      if (isProtocolError(err)) reject(err.code, { topic, bytes: payload.byteLength }, err.message);
      // Anything else is a bug on this side; a message must still never take the agent down.
      else logger.error({ err, topic, bytes: payload.byteLength }, 'cannot open a message');
      return;
    }
    if (opened.channel !== 'cmd' || opened.nodeId !== nodeId) {
      reject(
        'misdirected',
        { topic },
        `a ${opened.channel} message for node ${opened.nodeId} is not a command for this node`,
      );
      return;
    }
    const { message, header } = opened;
    commandChain = commandChain
      .then(() => dispatch(message))
      .catch((err: unknown) =>
        logger.error({ err, kind: message.kind, messageId: header.messageId }, 'command failed'),
      );
  }

  async function dispatch(command: Command): Promise<void> {
    switch (command.kind) {
      case 'run':
        return handleRun(command);
      case 'cancel':
        return handleCancel(command.runId);
      case 'ack':
        for (const { runId, seq } of command.runs) handleAck(runId, seq);
        return;
      case 'ping':
        publishEvent({ kind: 'pong', pingId: command.pingId });
        return;
    }
  }

  function requireOpen(): { spool: Spool; ledger: Ledger; outbox: Outbox } {
    if (spool === undefined || ledger === undefined || outbox === undefined) throw new Error('agent is not started');
    return { spool, ledger, outbox };
  }

  /** A run the ledger knows is answered with its state, never run again. */
  function answerKnownRun(entry: LedgerEntry): void {
    const { spool, outbox } = requireOpen();
    redeliveries += 1;
    logger.info({ runId: entry.runId, state: entry.state }, 'run delivered again: answering with its state');
    if (entry.state === 'rejected' && entry.rejection !== undefined) {
      publishEvent({ kind: 'rejected', runId: entry.runId, ...entry.rejection });
      return;
    }
    publishEvent({ kind: 'accepted', runId: entry.runId });
    if (entry.pid !== undefined && entry.startedAt !== undefined) {
      publishEvent({ kind: 'started', runId: entry.runId, pid: entry.pid, startedAt: entry.startedAt });
    }
    if (spool.get(entry.runId) !== undefined) outbox.rewind(entry.runId);
    else if (entry.state === 'delivered' && entry.exited !== undefined) publishEvent(entry.exited);
  }

  function rejectRun(
    command: RunCommand,
    code: 'expired' | 'pty_unavailable' | 'run_as_unavailable' | 'spawn_failed',
    reason: string,
  ): void {
    const { ledger } = requireOpen();
    const rejection = { code, reason: reason.slice(0, 1024) };
    const known = ledger.get(command.runId);
    if (known === undefined) {
      ledger.put({
        runId: command.runId,
        jobId: command.jobId,
        deadlineAt: command.deadlineAt,
        receivedAt: now(),
        state: 'rejected',
        rejection,
      });
    } else {
      ledger.update(command.runId, { state: 'rejected', rejection });
    }
    logger.info({ runId: command.runId, code, reason }, 'run rejected');
    publishEvent({ kind: 'rejected', runId: command.runId, ...rejection });
  }

  async function handleRun(command: RunCommand): Promise<void> {
    const { ledger } = requireOpen();
    const known = ledger.get(command.runId);
    if (known !== undefined) {
      answerKnownRun(known);
      return;
    }
    if (command.deadlineAt < now()) {
      rejectRun(
        command,
        'expired',
        `the run's deadline passed ${Math.round((now() - command.deadlineAt) / 1000)} s ago`,
      );
      return;
    }
    const refusal = await executor.refuse(command.spec);
    if (refusal !== undefined) {
      rejectRun(command, refusal.code, refusal.reason);
      return;
    }
    ledger.put({
      runId: command.runId,
      jobId: command.jobId,
      deadlineAt: command.deadlineAt,
      receivedAt: now(),
      state: 'accepted',
    });
    try {
      // Commands wait in line meanwhile (commandChain), so nothing about this run can overtake it.
      await ledger.durable();
    } catch (err) {
      logger.error({ err, runId: command.runId }, 'cannot make the run ledger durable: run refused');
      rejectRun(
        command,
        'spawn_failed',
        `the agent cannot write its run ledger to disk: ${err instanceof Error ? err.message : String(err)}`,
      );
      return;
    }
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const run: ActiveRun = {
      command,
      execution: undefined,
      spoolRun: undefined,
      chunker: undefined,
      exited: false,
      cancelRequested: false,
      announceTimer: undefined,
      announcedAccepted: false,
      finished,
      finish,
    };
    run.announceTimer = setTimeout(() => announce(run), ANNOUNCE_AFTER_MS);
    queue.push(run);
    startQueued();
  }

  function announce(run: ActiveRun): void {
    const { execution } = run;
    if (execution === undefined) {
      run.announcedAccepted = true;
      publishEvent({ kind: 'accepted', runId: run.command.runId });
    } else {
      publishEvent({ kind: 'started', runId: run.command.runId, pid: execution.pid, startedAt: execution.startedAt });
    }
  }

  function startQueued(): void {
    while (!stopping && queue.length > 0 && active.size < config.maxConcurrentRuns) {
      const run = queue.shift();
      if (run === undefined) return;
      active.set(run.command.runId, run);
      startRun(run).catch((err: unknown) => logger.error({ err, runId: run.command.runId }, 'run start failed'));
    }
  }

  async function startRun(run: ActiveRun): Promise<void> {
    const { spool, ledger, outbox } = requireOpen();
    const { command } = run;
    if (command.deadlineAt < now()) {
      clearTimeout(run.announceTimer);
      active.delete(command.runId);
      run.finish();
      rejectRun(command, 'expired', 'the run waited for a free slot until past its deadline');
      startQueued();
      return;
    }
    let execution: Execution;
    try {
      spawns += 1;
      execution = await executor.start(
        { runId: command.runId, jobId: command.jobId, spec: command.spec },
        {
          onOutput: (stream, data) => {
            // A PTY may hand over a last read after its exit; the run's record is closed by then.
            if (run.chunker === undefined || run.exited) {
              logger.debug({ runId: command.runId, bytes: data.byteLength }, 'output after the run ended: dropped');
              return;
            }
            run.chunker.push(stream, data);
          },
          onExit: (result) => runExited(run, result),
        },
      );
    } catch (err) {
      clearTimeout(run.announceTimer);
      active.delete(command.runId);
      run.finish();
      rejectRun(command, 'spawn_failed', err instanceof Error ? err.message : String(err));
      startQueued();
      return;
    }
    run.execution = execution;
    if (stopping) execution.stop('interrupted');
    else if (run.cancelRequested) execution.stop('cancelled');
    const spoolRun = spool.createRun(command.runId);
    run.spoolRun = spoolRun;
    run.chunker = new Chunker({
      maxBytes: deps.chunkMaxBytes ?? DEFAULT_CHUNK_MAX_BYTES,
      flushDelayMs: deps.chunkFlushMs ?? DEFAULT_CHUNK_FLUSH_MS,
      emit: (stream, data) => {
        let result;
        try {
          result = spool.appendChunk(spoolRun, stream, data);
        } catch (err) {
          // A full or failing disk must not take the agent down; the run is flagged as cut so
          // the loss is not silent.
          spoolRun.truncated = true;
          logger.error({ err, runId: command.runId }, 'cannot write output to the spool: run output cut');
          return;
        }
        if (result === 'cut') {
          logger.warn({ runId: command.runId, spoolMaxBytes: config.spoolMaxBytes }, 'spool full: run output cut');
        }
        scheduleSync();
        outbox.wake();
      },
    });
    ledger.update(command.runId, { state: 'running', pid: execution.pid, startedAt: execution.startedAt });
    logger.info({ runId: command.runId, pid: execution.pid }, 'run started');
    if (run.announcedAccepted && !run.exited) announce(run);
  }

  function runExited(run: ActiveRun, result: ExecutionResult): void {
    const { spool, outbox } = requireOpen();
    const { command } = run;
    run.chunker?.flush();
    run.exited = true;
    clearTimeout(run.announceTimer);
    const exited = recordExit(run.spoolRun ?? spool.createRun(command.runId), {
      outcome: result.outcome,
      exitCode: result.exitCode,
      signal: result.signal,
      startedAt: result.startedAt,
      endedAt: result.endedAt,
      peakRssBytes: result.peakRssBytes,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
    });
    logger.info(
      { runId: command.runId, outcome: exited.outcome, exitCode: exited.exitCode, chunks: exited.seq },
      'run exited',
    );
    active.delete(command.runId);
    run.finish();
    outbox.wake();
    startQueued();
  }

  function handleCancel(runId: string): void {
    const { spool, outbox } = requireOpen();
    const queued = queue.findIndex((run) => run.command.runId === runId);
    if (queued >= 0) {
      const [run] = queue.splice(queued, 1);
      recordExit(spool.createRun(runId), {
        outcome: 'cancelled',
        exitCode: null,
        signal: null,
        startedAt: null,
        endedAt: now(),
        peakRssBytes: null,
        reason: 'cancelled before it started',
      });
      run?.finish();
      outbox.wake();
      return;
    }
    const run = active.get(runId);
    if (run === undefined) {
      logger.info({ runId }, 'cancel for a run that is not running: nothing to do');
      return;
    }
    if (run.execution === undefined) {
      logger.info({ runId }, 'cancel while the run is starting: it is stopped once started');
      run.cancelRequested = true;
      return;
    }
    logger.info({ runId }, 'cancelling run');
    run.execution.stop('cancelled');
  }

  function handleAck(runId: string, seq: number): void {
    const { spool, ledger, outbox } = requireOpen();
    const run = spool.get(runId);
    if (run === undefined) return;
    // The spool's copy goes with this ack without waiting for the ledger's `exited` to be on
    // disk: the master holds the exit now, so a power cut that took that line only makes the
    // next start report the run `interrupted`, which the master ignores (the first exit stands).
    // One fdatasync a run fewer, on nodes whose SD cards wear with each.
    const before = run.ackedThrough;
    const delivered = spool.ack(run, seq);
    if (delivered && ledger.get(runId) !== undefined) ledger.update(runId, { state: 'delivered' });
    outbox.acked(runId, delivered || run.ackedThrough > before);
  }

  /** The run's end, in the spool (its sync started at once) and then the ledger. */
  function recordExit(spoolRun: RunSpool, fields: Parameters<Spool['appendExited']>[1]): ExitedEvent {
    const { spool, ledger } = requireOpen();
    const exited = spool.appendExited(spoolRun, fields);
    syncSpool();
    ledger.update(spoolRun.runId, { state: 'exited', exited });
    return exited;
  }

  /** fdatasync of what the spool wrote, on the thread pool: an exit at once, output within a second. */
  function syncSpool(): void {
    spool?.syncDirty((err) => logger.error({ err }, 'spool: fdatasync failed'));
  }

  function scheduleSync(): void {
    syncTimer ??= setTimeout(() => {
      syncTimer = undefined;
      syncSpool();
    }, SPOOL_SYNC_INTERVAL_MS);
  }

  /** Runs the last agent left behind: they end as `interrupted`, and their output is still delivered. */
  function recover(): void {
    const { spool, ledger } = requireOpen();
    for (const entry of [...ledger.list()]) {
      if (entry.state === 'accepted' || entry.state === 'running') {
        if (entry.pid !== undefined && leadsProcessGroup(entry.pid)) {
          logger.warn({ runId: entry.runId, pid: entry.pid }, 'ending a run the previous agent left running');
          signalGroup(entry.pid, 'SIGKILL');
        }
        const spoolRun = spool.get(entry.runId) ?? spool.createRun(entry.runId);
        spool.appendLossMarker(spoolRun, undefined);
        const exited = recordExit(spoolRun, {
          outcome: 'interrupted',
          exitCode: null,
          signal: null,
          startedAt: entry.startedAt ?? null,
          endedAt: now(),
          peakRssBytes: null,
          reason: `the agent stopped while the run was ${entry.state === 'running' ? 'running' : 'waiting to start'}`,
        });
        logger.warn(
          { runId: entry.runId, outcome: exited.outcome, chunks: exited.seq },
          'run interrupted by an agent restart',
        );
      } else if (entry.state === 'exited') {
        const spoolRun = spool.get(entry.runId);
        if (spoolRun === undefined) ledger.update(entry.runId, { state: 'delivered' });
        else if (spoolRun.exited === undefined && entry.exited !== undefined) {
          // The ledger's line reached the disk and the spool's record did not (power cut, a
          // damaged segment): the exit is written again, with the chunk count the spool kept,
          // after a marker naming the output the spool lost.
          spool.appendLossMarker(spoolRun, entry.exited.seq);
          recordExit(spoolRun, entry.exited);
          logger.warn({ runId: entry.runId, chunks: spoolRun.chunkCount }, "spool: restored a run's lost exit");
        }
      }
    }
    // A run whose removal a crash interrupted: it was delivered already.
    for (const spoolRun of [...spool.list()]) {
      const state = ledger.get(spoolRun.runId)?.state;
      if (spoolRun.exited === undefined && (state === 'delivered' || state === 'rejected')) spool.discard(spoolRun);
    }
  }

  return {
    nodeId,
    async start() {
      spool = new Spool({
        dir: join(config.stateDir, stateFiles.spool),
        maxBytes: config.spoolMaxBytes,
        ...(deps.spoolSegmentMaxBytes === undefined ? {} : { segmentMaxBytes: deps.spoolSegmentMaxBytes }),
        onCut: (runId, detail) => logger.warn({ runId, detail }, 'spool: cut a damaged run'),
      });
      ledger = new Ledger({
        path: join(config.stateDir, stateFiles.ledger),
        now,
        onInvalidLine: (line) => logger.warn({ line }, 'ledger: skipped an unreadable line'),
      });
      outbox = new Outbox({
        spool,
        publish: publishRecord,
        logger,
        now,
        ...(deps.publishWindow === undefined ? {} : { windowSize: deps.publishWindow }),
        ...(deps.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: deps.ackTimeoutMs }),
      });
      recover();
      ptyAvailable = await executor.ptyAvailable();
      const box = outbox;
      connection = new Connection({
        url: config.mqttUrl,
        clientId: nodeId,
        username: config.mqttUsername,
        password: config.mqttPassword,
        tls: config.tls,
        subscribeTopic: cmdTopic,
        logger,
        willFor,
        ...(deps.backoff === undefined ? {} : { backoff: deps.backoff }),
        ...(deps.keepaliveSec === undefined ? {} : { keepaliveSec: deps.keepaliveSec }),
        onConnected: () => {
          publishState();
          box.connected();
        },
        onDisconnected: () => box.disconnected(),
        onMessage,
      });
      connection.start();
      heartbeatTimer = setInterval(() => {
        beat += 1;
        publishState();
      }, config.heartbeatIntervalMs);
      logger.info({ stateDir: config.stateDir, mqttUrl: config.mqttUrl }, 'agent started');
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(heartbeatTimer);
      for (const run of queue.splice(0)) {
        clearTimeout(run.announceTimer);
        run.finish();
      }
      for (const run of active.values()) run.execution?.stop('interrupted');
      await Promise.all([...active.values()].map((run) => run.finished));
      await commandChain;
      outbox?.stop();
      beat += 1;
      await connection?.stop({ topic: stateTopic, payload: seal(stateTopic, stateMessage(false)) });
      // Commands that came while the connection closed (a run waiting for its ledger's sync)
      // finish before the spool and ledger close under them.
      await commandChain;
      clearTimeout(syncTimer);
      spool?.close();
      ledger?.close();
      logger.info('agent stopped');
    },
    stats() {
      return {
        nodeId,
        connectionSeq,
        connected: connection?.connected ?? false,
        rejections: { ...rejections },
        redeliveries,
        spawns,
        runningRuns: [...active.values()].filter((run) => run.execution !== undefined).length,
        queuedRuns: queue.length,
        spoolBytes: spool?.bytes ?? 0,
        published: outbox?.published ?? 0,
      };
    },
  };
}
