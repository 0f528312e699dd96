import {
  isProtocolError,
  newId,
  shellCloseCodes,
  type Command,
  type ShellQuery,
  type ShellServerMessage,
  type ShellSessionDto,
  type Topics,
} from '@edgestelle/protocol';
import { openMessage } from '@edgestelle/protocol/envelope';
import type { Selectable } from 'kysely';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Actor, AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { ShellSessionsTable } from '../db/schema.ts';
import type { Store } from '../db/store.ts';
import { notFound } from '../errors.ts';
import type { NodeKeys } from '../node-keys.ts';
import type { NodeService } from '../nodes/node-service.ts';
import { RelaySession, type SessionEnd } from './relay-session.ts';

export interface ShellSettings {
  idleTimeoutMs: number;
  maxSessionMs: number;
  openTimeoutMs: number;
  recordingMaxBytes: number;
}

export interface ShellServiceOptions {
  store: Store;
  keys: NodeKeys;
  topics: Topics;
  nodes: NodeService;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  sendCommand: (nodeId: string, command: Command) => Promise<void>;
  settings: ShellSettings;
}

export interface ShellRequest {
  socket: WebSocket;
  nodeId: string;
  query: ShellQuery;
  actor: Actor;
}

type Refusal = Extract<ShellServerMessage, { type: 'error' }>;

/**
 * Shell sessions held by this master: it checks the node can give a terminal, stores and
 * audits the session, and relays between the client's WebSocket and the agent. Agents publish
 * session output to every master (the shell topic is not shared); a master drops what belongs
 * to a session it does not hold.
 */
export class ShellService {
  private readonly sessions = new Map<string, RelaySession>();

  constructor(private readonly options: ShellServiceOptions) {}

  /** A shell topic message from the broker; never throws. */
  receive(topic: string, payload: Buffer): void {
    const { topics, keys, logger, clock } = this.options;
    let opened;
    try {
      opened = openMessage(topics, topic, payload, { keyFor: (n, k) => keys.keyFor(n, k), nowMs: clock.now() });
    } catch (err) {
      if (isProtocolError(err)) logger.warn({ topic, code: err.code }, `shell message refused: ${err.message}`);
      else logger.error({ err, topic }, 'cannot open a shell message');
      return;
    }
    if (opened.channel !== 'shell') return;
    const session = this.sessions.get(opened.message.sessionId);
    if (session === undefined || session.nodeId !== opened.nodeId) return;
    session.fromAgent(opened.message);
  }

  attach(request: ShellRequest): void {
    this.open(request).catch((err: unknown) => {
      this.options.logger.error({ err, nodeId: request.nodeId }, 'a shell session failed to open');
      refuse(request.socket, { type: 'error', code: 'unavailable', message: 'the master could not open the session' });
    });
  }

  async list(filter: { nodeId?: string | undefined; limit: number }): Promise<ShellSessionDto[]> {
    let query = this.options.store.db
      .selectFrom('shell_sessions')
      .select([
        'session_id',
        'node_id',
        'username',
        'command',
        'started_at',
        'ended_at',
        'exit_code',
        'signal',
        'end_reason',
        'recording_bytes',
      ])
      .orderBy('started_at', 'desc')
      .orderBy('session_id', 'desc')
      .limit(filter.limit);
    if (filter.nodeId !== undefined) query = query.where('node_id', '=', filter.nodeId);
    return (await query.execute()).map(sessionDto);
  }

  async recording(sessionId: string): Promise<string> {
    const row = await this.options.store.db
      .selectFrom('shell_sessions')
      .select(['recording'])
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
    if (row === undefined) throw notFound(`shell session ${sessionId}`);
    if (row.recording === null) throw notFound(`the recording of shell session ${sessionId} (it is still running)`);
    return row.recording;
  }

  /** Ends every session this master holds (it is stopping). */
  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((session) => session.abort('the master is stopping')));
  }

  private async open({ socket, nodeId, query, actor }: ShellRequest): Promise<void> {
    const { store, clock, audit, logger, settings } = this.options;
    const refusal = await this.refusal(nodeId);
    if (refusal !== undefined) return refuse(socket, refusal);
    const startedAt = clock.now();
    const sessionId = newId(startedAt);
    await store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('shell_sessions')
        .values({
          session_id: sessionId,
          node_id: nodeId,
          username: actor.name,
          command: query.command ?? null,
          started_at: startedAt,
          ended_at: null,
          exit_code: null,
          signal: null,
          end_reason: null,
          recording: null,
        })
        .execute();
      await audit.record(trx, {
        actor,
        action: 'shell.open',
        target: `node:${nodeId}`,
        details: { sessionId, ...(query.command === undefined ? {} : { command: query.command.slice(0, 200) }) },
      });
    });
    const onEnd = async (end: SessionEnd): Promise<void> => {
      this.sessions.delete(sessionId);
      const endedAt = clock.now();
      await store.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('shell_sessions')
          .set({
            ended_at: endedAt,
            exit_code: end.exitCode,
            signal: end.signal,
            end_reason: end.reason,
            recording: end.recording,
            recording_bytes: Buffer.byteLength(end.recording),
          })
          .where('session_id', '=', sessionId)
          .execute();
        await audit.record(trx, {
          actor,
          action: 'shell.close',
          target: `node:${nodeId}`,
          details: { sessionId, exitCode: end.exitCode, durationMs: endedAt - startedAt, reason: end.reason },
        });
      });
      logger.info({ sessionId, nodeId, exitCode: end.exitCode, reason: end.reason }, 'shell session ended');
    };
    const session = new RelaySession({
      sessionId,
      nodeId,
      socket,
      clock,
      logger,
      sendCommand: this.options.sendCommand,
      cols: query.cols,
      rows: query.rows,
      term: query.term,
      command: query.command,
      ...settings,
      onEnd,
    });
    this.sessions.set(sessionId, session);
    logger.info({ sessionId, nodeId, user: actor.name }, 'shell session opening');
    await this.options.sendCommand(nodeId, {
      kind: 'shell_open',
      sessionId,
      cols: query.cols,
      rows: query.rows,
      term: query.term,
      deadlineAt: startedAt + settings.openTimeoutMs,
      ...(query.command === undefined ? {} : { command: query.command }),
    });
  }

  /** Why this node cannot give a shell now, said before anything is stored. */
  private async refusal(nodeId: string): Promise<Refusal | undefined> {
    const node = await this.options.nodes.get(nodeId).catch(() => undefined);
    if (node === undefined || node.revokedAt !== null) {
      return { type: 'error', code: 'not_found', message: `node ${nodeId} is not enrolled (or was revoked)` };
    }
    if (!node.online) {
      return { type: 'error', code: 'node_offline', message: `node ${nodeId} is offline: a shell needs it connected` };
    }
    const capabilities = node.facts?.capabilities;
    if (capabilities?.shell !== true) {
      return {
        type: 'error',
        code: 'shell_unsupported',
        message: `the agent on ${nodeId} (${node.facts?.agentVersion ?? 'unknown version'}) has no shell sessions: upgrade it`,
      };
    }
    if (!capabilities.pty) {
      return {
        type: 'error',
        code: 'pty_unavailable',
        message: `node ${nodeId} cannot give a terminal: node-pty did not load and script(1) from util-linux is missing there`,
      };
    }
    return undefined;
  }
}

function refuse(socket: WebSocket, message: Refusal): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  socket.close(shellCloseCodes.refused, message.message.slice(0, 120));
}

function sessionDto(row: Omit<Selectable<ShellSessionsTable>, 'recording'>): ShellSessionDto {
  return {
    sessionId: row.session_id,
    nodeId: row.node_id,
    username: row.username,
    command: row.command,
    startedAt: Number(row.started_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    exitCode: row.exit_code,
    signal: row.signal,
    endReason: row.end_reason,
    recordingBytes: Number(row.recording_bytes),
  };
}
