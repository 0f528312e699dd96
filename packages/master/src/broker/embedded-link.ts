import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { Topics } from '@edgestelle/protocol';
import { MasterError, MasterErrorCode } from '../errors.ts';
import { LINK_WINDOW_SIZE, type MqttLink, type OnLinkMessage } from './link.ts';
import { WindowedPublisher } from './publisher.ts';

export interface EmbeddedLinkOptions {
  logger: Logger;
  onMessage: OnLinkMessage;
}

interface Message {
  topic: string;
  payload: Buffer | string;
}

/** Where the retained messages a new subscription is first sent come from (the broker's persistence). */
export interface RetainedMessages {
  createRetainedStreamCombi(filters: string[]): AsyncIterable<Message>;
}

/**
 * The master's link to the broker in its own process, through Aedes's API: no socket and no MQTT
 * encoding on either side (over TCP, the link was two thirds of the master's socket writes in the
 * 10,000-node fan-out, plus parsing and serialising at both ends). Same semantics as the TCP
 * link: messages reach `onMessage` one at a time in arrival order, and Aedes's publish of each
 * completes only once `onMessage` resolved it. That is the back-pressure: Aedes delivers 100
 * publishes at once (embedded-broker.ts), so an ingest that stops taking messages holds the
 * broker back. (Aedes 1.2.0 PUBACKs an agent's QoS 1 publish before delivering it, over TCP as
 * here; the agent's own window and ack timeout are what slow it down.)
 *
 * The subscriptions are listeners on Aedes's emitter, the one its clients' subscriptions use, so
 * `+` matches the same topics; they are no client's, so no ACL or `authorizeForward` applies.
 */
export async function openEmbeddedLink(
  broker: Aedes,
  retained: RetainedMessages,
  topics: Topics,
  options: EmbeddedLinkOptions,
): Promise<MqttLink> {
  const { logger, onMessage } = options;
  const filters = [topics.allNodes('evt'), topics.allNodes('state')];
  let closed = false;
  let tail = Promise.resolve();
  const deliver = (message: Message, done: () => void): void => {
    const { topic } = message;
    const payload = Buffer.isBuffer(message.payload) ? message.payload : Buffer.from(message.payload);
    tail = tail.then(async () => {
      // Once closed, ingest has stored what it took and nothing new may reach it (master.ts).
      // Ingest never acknowledges what it did not store, so the agent sends that again.
      if (!closed) {
        try {
          await onMessage(topic, payload);
        } catch (err) {
          // As over TCP: the agent had its PUBACK already, and the message comes again because
          // ingest acknowledges only what it stored (the agent's outbox re-sends output and
          // exits, its heartbeat the state).
          logger.error({ err, topic }, 'ingest failed on a message; it will come again');
        }
      }
      // Outside the chain: a throw inside Aedes must surface, not silently stop later deliveries.
      queueMicrotask(done);
    });
  };
  await Promise.all(
    filters.map((filter) => new Promise<void>((resolve) => broker.subscribe(filter, deliver, resolve))),
  );
  // What an MQTT subscription gets first: agents that connected before these listeners existed
  // left their retained state.
  for await (const message of retained.createRetainedStreamCombi(filters)) {
    deliver(message, () => undefined);
  }

  const publisher = new WindowedPublisher(
    (topic, payload) =>
      new Promise<void>((resolve, reject) => {
        if (closed) {
          reject(
            new MasterError(
              MasterErrorCode.unavailable,
              'the link to the embedded MQTT broker is closed: the master is shutting down',
            ),
          );
          return;
        }
        // Resolves once Aedes has handed it to every subscriber, so the window bounds Aedes's work
        // in flight too. (Over TCP, Aedes's PUBACK came before it delivered anything.)
        broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (err) =>
          err ? reject(err) : resolve(),
        );
      }),
    LINK_WINDOW_SIZE,
  );
  return {
    publish: (topic, payload) => publisher.publish(topic, payload),
    connected: () => !closed && !broker.closed,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(
        filters.map((filter) => new Promise<void>((resolve) => broker.unsubscribe(filter, deliver, resolve))),
      );
    },
  };
}
