import { join } from 'node:path';
import type { AgentEvent, Topics } from '@edgestelle/protocol';
import type { Logger } from 'pino';
import { AckHandler } from './acks.ts';
import type { AgentDeps } from './agent-deps.ts';
import type { AgentLink } from './agent-link.ts';
import { CommandHandlers } from './commands.ts';
import type { AgentConfig } from './config.ts';
import type { RunExecutor } from './executor.ts';
import { CommandInbox } from './inbox.ts';
import { Ledger } from './ledger.ts';
import { Outbox } from './outbox.ts';
import { recoverRuns } from './recovery.ts';
import { RunAdmission } from './run-admission.ts';
import { RunAnnouncer } from './run-announcer.ts';
import { RunRecords } from './run-records.ts';
import { RunScheduler } from './run-scheduler.ts';
import { ShellSessions } from './shell-sessions.ts';
import { Spool } from './spool.ts';
import { stateFiles } from './state-dir.ts';
import type { AgentCounters } from './stats.ts';

const DEFAULT_CHUNK_MAX_BYTES = 32 * 1024;
const DEFAULT_CHUNK_FLUSH_MS = 25;

export interface PartsContext {
  config: AgentConfig;
  deps: Pick<AgentDeps, 'spoolSegmentMaxBytes' | 'publishWindow' | 'ackTimeoutMs' | 'chunkMaxBytes' | 'chunkFlushMs'>;
  logger: Logger;
  now: () => number;
  nodeId: string;
  topics: Topics;
  executor: RunExecutor;
  link: AgentLink;
  counters: AgentCounters;
  /** The agent is no longer started: runs stop starting. */
  stopping: () => boolean;
}

/** The files a started agent holds open and the parts that work on them. */
export interface AgentParts {
  readonly spool: Spool;
  readonly ledger: Ledger;
  readonly outbox: Outbox;
  readonly scheduler: RunScheduler;
  readonly inbox: CommandInbox;
  readonly shells: ShellSessions;
  /** Syncs and closes the spool and the ledger. */
  close(): void;
}

/** Reads the spool and ledger back and wires the parts on them; a start that fails closes them again. */
export function openParts(context: PartsContext): AgentParts {
  const { config, deps, logger, now } = context;
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
    return wire(context, spool, ledger);
  } catch (err) {
    ledger?.close();
    spool.close();
    throw err;
  }
}

/** Ends what the last agent left behind (recovery.ts) and builds the parts on the open files. */
function wire(context: PartsContext, spool: Spool, ledger: Ledger): AgentParts {
  const { config, deps, logger, now, executor, link, counters } = context;
  const publishEvent = (event: AgentEvent): void => link.publishEvent(event);
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
    stopping: context.stopping,
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
  const shells = new ShellSessions({
    pty: () => executor.pty(),
    publish: (event) => link.publishShell(event),
    logger,
    now,
  });
  const handlers = new CommandHandlers({
    admission,
    scheduler,
    acks: new AckHandler(spool, ledger, outbox),
    shells,
    publishEvent,
  });
  const inbox = new CommandInbox({
    topics: context.topics,
    nodeId: context.nodeId,
    config,
    counters,
    logger,
    now,
    dispatch: (command) => handlers.dispatch(command),
  });
  return {
    spool,
    ledger,
    outbox,
    scheduler,
    inbox,
    shells,
    close() {
      records.close();
      spool.close();
      ledger.close();
    },
  };
}
