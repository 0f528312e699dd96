import type { Command, Topics } from '@edgestelle/protocol';
import { sealMessage } from '@edgestelle/protocol/envelope';
import type { WindowedPublisher } from '../broker/publisher.ts';
import type { NodeKeys } from '../node-keys.ts';

/**
 * Sends a command to a node: sealed under the node's key, the topic in the additional data,
 * published on the master's link. A node without a usable key, or a link not up yet, gets nothing.
 */
export function commandSender(options: {
  keys: NodeKeys;
  topics: Topics;
  link: { readonly publisher: WindowedPublisher | undefined };
}): (nodeId: string, command: Command) => Promise<void> {
  const { keys, topics, link } = options;
  return async (nodeId, command) => {
    const key = keys.sealingKey(nodeId);
    const publisher = link.publisher;
    if (key === undefined || publisher === undefined) return;
    const topic = topics.node(nodeId, 'cmd');
    // Sealed with the wall clock, whatever clock decides: the agent checks freshness against its own.
    await publisher.publish(topic, sealMessage(topic, command, key));
  };
}
