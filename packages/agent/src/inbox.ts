import { isProtocolError, type Command, type Topics } from '@edgestelle/protocol';
import { DEFAULT_MAX_CLOCK_SKEW_MS, openMessage } from '@edgestelle/protocol/envelope';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.ts';
import type { AgentCounters, RejectionCode } from './stats.ts';

export interface CommandInboxOptions {
  topics: Topics;
  nodeId: string;
  config: Pick<AgentConfig, 'keyId' | 'nodeKey'>;
  counters: AgentCounters;
  logger: Logger;
  now: () => number;
  dispatch: (command: Command) => Promise<void>;
}

/**
 * Every message on the agent's command topic: opened (key, tag, schema, freshness) and checked
 * to be a command for this node, else counted and logged by why it was refused. Commands are
 * handled one after the other, in the order they came: a cancel never overtakes its run.
 */
export class CommandInbox {
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: CommandInboxOptions) {}

  receive(topic: string, payload: Buffer): void {
    const { topics, nodeId, config, logger, now } = this.options;
    let opened;
    try {
      opened = openMessage(topics, topic, payload, {
        keyFor: (topicNodeId, keyId) => (topicNodeId === nodeId && keyId === config.keyId ? config.nodeKey : undefined),
        nowMs: now(),
        maxSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
      });
    } catch (err) {
      if (isProtocolError(err)) this.reject(err.code, { topic, bytes: payload.byteLength }, err.message);
      // Anything else is a bug on this side; a message must still never take the agent down.
      else logger.error({ err, topic, bytes: payload.byteLength }, 'cannot open a message');
      return;
    }
    if (opened.channel !== 'cmd' || opened.nodeId !== nodeId) {
      this.reject(
        'misdirected',
        { topic },
        `a ${opened.channel} message for node ${opened.nodeId} is not a command for this node`,
      );
      return;
    }
    const { message, header } = opened;
    this.chain = this.chain
      .then(() => this.options.dispatch(message))
      .catch((err: unknown) =>
        logger.error({ err, kind: message.kind, messageId: header.messageId }, 'command failed'),
      );
  }

  /** Resolves once every command received so far has been handled. */
  drained(): Promise<void> {
    return this.chain;
  }

  private reject(code: RejectionCode, context: Record<string, unknown>, message: string): void {
    const count = this.options.counters.rejected(code);
    this.options.logger.warn({ ...context, code, count }, `command rejected: ${message}`);
  }
}
