import type { AgentEvent, ShellEvent, StateMessage, Topics } from '@edgestelle/protocol';
import { sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.ts';
import { Connection, type ConnectionOptions, type Will } from './connection.ts';
import type { SpoolRecord } from './spool.ts';

export interface AgentLinkOptions {
  config: AgentConfig;
  nodeId: string;
  topics: Topics;
  logger: Logger;
  now: () => number;
  backoff?: { initialMs: number; maxMs: number; random?: () => number } | undefined;
  keepaliveSec?: number | undefined;
}

export type LinkHandlers = Pick<
  ConnectionOptions,
  'willFor' | 'onConnected' | 'onDisconnected' | 'onMessage' | 'onGiveUp'
>;

/**
 * The agent's side of MQTT: its one connection, and everything it publishes sealed under the
 * node's key with the topic in the additional data.
 */
export class AgentLink {
  readonly cmdTopic: string;
  readonly evtTopic: string;
  readonly stateTopic: string;
  readonly shellTopic: string;
  private readonly sealingKey: SealingKey;
  private connection: Connection | undefined;

  constructor(private readonly options: AgentLinkOptions) {
    const { topics, nodeId, config } = options;
    this.cmdTopic = topics.node(nodeId, 'cmd');
    this.evtTopic = topics.node(nodeId, 'evt');
    this.stateTopic = topics.node(nodeId, 'state');
    this.shellTopic = topics.node(nodeId, 'shell');
    this.sealingKey = { keyId: config.keyId, key: config.nodeKey };
  }

  get connected(): boolean {
    return this.connection?.connected ?? false;
  }

  /** accepted, started, rejected and pong: plain QoS 1, not spooled (the master asks again). */
  publishEvent(event: AgentEvent): void {
    const { connection } = this;
    if (connection === undefined || !connection.connected) return;
    connection.publish(this.evtTopic, this.seal(this.evtTopic, event)).catch((err: unknown) => {
      this.options.logger.debug({ err, kind: event.kind }, 'event not published');
    });
  }

  /** A shell session's event: QoS 1, not spooled; resolves on PUBACK. */
  publishShell(event: ShellEvent): Promise<void> {
    const { connection } = this;
    if (connection === undefined || !connection.connected) return Promise.reject(new Error('not connected'));
    return connection.publish(this.shellTopic, this.seal(this.shellTopic, event));
  }

  /** A spooled record (output or `exited`); resolves on PUBACK. */
  publishRecord(record: SpoolRecord): Promise<void> {
    const { connection } = this;
    if (connection === undefined) return Promise.reject(new Error('not connected'));
    const event: AgentEvent =
      record.kind === 'exited'
        ? record.event
        : { kind: 'output', runId: record.runId, seq: record.seq, stream: record.stream, data: record.data };
    return connection.publish(this.evtTopic, this.seal(this.evtTopic, event));
  }

  /** The retained state; the caller checks {@link connected} first, since facts cost a few syscalls. */
  publishState(message: StateMessage): void {
    this.connection?.publish(this.stateTopic, this.seal(this.stateTopic, message), true).catch((err: unknown) => {
      this.options.logger.debug({ err }, 'state not published');
    });
  }

  /** A state message as a will, or as the last thing said before closing. */
  stateWill(message: StateMessage): Will {
    return { topic: this.stateTopic, payload: this.seal(this.stateTopic, message) };
  }

  connect(handlers: LinkHandlers): void {
    const { config, nodeId, logger, backoff, keepaliveSec } = this.options;
    this.connection = new Connection({
      url: config.mqttUrl,
      clientId: nodeId,
      username: config.mqttUsername,
      password: config.mqttPassword,
      tls: config.tls,
      subscribeTopic: this.cmdTopic,
      logger,
      ...(backoff === undefined ? {} : { backoff }),
      ...(keepaliveSec === undefined ? {} : { keepaliveSec }),
      ...handlers,
    });
    this.connection.start();
  }

  /** Publishes `last` first if connected, then disconnects. */
  async close(last: Will): Promise<void> {
    await this.connection?.stop(last);
  }

  private seal(topic: string, message: AgentEvent | StateMessage | ShellEvent): Buffer {
    return sealMessage(topic, message, this.sealingKey, { nowMs: this.options.now() });
  }
}
