import type { Logger } from 'pino';
import type { NodeService } from '../nodes/node-service.ts';
import type { Dispatcher } from './dispatcher.ts';

/**
 * Runs sent just before a restart may never have reached their node: offer them again to every
 * node online now (a node that comes online later is offered its runs through ingest).
 */
export async function resendAfterRestart(options: {
  dispatcher: Pick<Dispatcher, 'onNodeOnline'>;
  nodes: Pick<NodeService, 'list'>;
  logger: Logger;
}): Promise<void> {
  const { dispatcher, logger } = options;
  for (const node of await options.nodes.list({ online: true })) {
    dispatcher.onNodeOnline(node.nodeId).catch((err: unknown) => logger.error({ err }, 're-sending runs failed'));
  }
}
