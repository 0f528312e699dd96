import { MasterError, MasterErrorCode } from '../errors.ts';
import type { MosquittoSync } from '../mosquitto-sync/index.ts';
import type { EmbeddedBroker } from './embedded-broker.ts';
import type { MqttLink } from './mqtt-link.ts';
import type { WindowedPublisher } from './publisher.ts';

/**
 * What the rest of the master asks of its broker, whichever it is: the link's publisher, ending
 * a node's connection (embedded broker), a node's user on an external Mosquitto with dynamic
 * security. The node service, dispatcher and ingest are built before the broker and the link
 * are up (the broker checks node passwords with the node service, the link hands messages to
 * ingest), so they hold this, and start-broker.ts fills it in. Until then there is no
 * publisher, nothing to disconnect and no broker user to change.
 */
export class BrokerAccess {
  private embedded: EmbeddedBroker | undefined;
  private link: MqttLink | undefined;
  private sync: MosquittoSync | undefined;

  useEmbedded(broker: EmbeddedBroker): void {
    this.embedded = broker;
  }

  useLink(link: MqttLink): void {
    this.link = link;
  }

  /** Set when the external broker's users are managed over dynamic security. */
  useSync(sync: MosquittoSync): void {
    this.sync = sync;
  }

  get publisher(): WindowedPublisher | undefined {
    return this.link?.publisher;
  }

  /** Ends a node's connection to the embedded broker now (an external one is told by {@link removeNode}). */
  disconnectNode(nodeId: string): void {
    this.embedded?.disconnect(nodeId);
  }

  setNodeCredentials(nodeId: string, password: string): Promise<void> {
    return this.changeUsers("accept the node's credentials", (sync) => sync.upsertNode(nodeId, password));
  }

  removeNode(nodeId: string): Promise<void> {
    return this.changeUsers('remove the node', (sync) => sync.removeNode(nodeId));
  }

  /** A change to the external broker's users; a failure is an error the caller can retry. */
  async changeUsers(what: string, action: (sync: MosquittoSync) => Promise<void>): Promise<void> {
    const sync = this.sync;
    if (sync === undefined) return;
    try {
      await action(sync);
    } catch (cause) {
      throw new MasterError(
        MasterErrorCode.unavailable,
        `the MQTT broker did not ${what}: ${cause instanceof Error ? cause.message : String(cause)}; try again`,
        { cause },
      );
    }
  }
}
