/**
 * Child entry of the ingest scenario (ingest.ts): the raw mqtt.js pub→sub ceiling, its
 * publishers and its subscriber in their own process, as the simulated agents are, so the
 * ceiling and the ingest run have the same topology (clients here, the broker where it really
 * is: in the master's process when embedded, in its own for Mosquitto).
 *
 * Says `ready` once loaded; `measure` publishes for the given time, QoS 1 with 16 messages in
 * flight per publisher, and answers `ceiling` with what was sent and received; `stop` exits.
 */
import type { MqttClient } from 'mqtt';
import { serveParent } from '../lib/child.ts';
import { sleep } from '../lib/stats.ts';
import { ceilingRequestSchema, connect, textLines, type CeilingRequest } from './ingest-wire.ts';

const IN_FLIGHT_PER_PUBLISHER = 16;

let clients: MqttClient[] = [];

async function measure(request: Extract<CeilingRequest, { type: 'measure' }>) {
  const { brokerUrl, username, password, topicPrefix, durationMs } = request;
  const sub = await connect(brokerUrl, `${topicPrefix}-raw-sub`, username, password);
  clients.push(sub);
  let receivedBytes = 0;
  let lastReceivedAt = 0;
  sub.on('message', (_t, payload) => {
    receivedBytes += payload.byteLength;
    lastReceivedAt = Date.now();
  });
  await sub.subscribeAsync(`${topicPrefix}/bench/raw/+`, { qos: 1 });
  const payload = textLines(request.messageBytes);
  const pubs = await Promise.all(
    Array.from({ length: request.publishers }, (_, i) =>
      connect(brokerUrl, `${topicPrefix}-raw-${i}`, username, password),
    ),
  );
  clients.push(...pubs);
  let sentBytes = 0;
  const startedAt = Date.now();
  await Promise.all(
    pubs.map(async (pub, i) => {
      const inFlight = new Set<Promise<unknown>>();
      while (Date.now() - startedAt < durationMs) {
        const p = pub.publishAsync(`${topicPrefix}/bench/raw/${i}`, payload, { qos: 1 });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        sentBytes += payload.byteLength;
        if (inFlight.size >= IN_FLIGHT_PER_PUBLISHER) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }),
  );
  // A broker that drops for a slow subscriber (Mosquitto's max_queued_messages) never delivers it all.
  const drainDeadline = Date.now() + 10_000;
  while (receivedBytes < sentBytes && Date.now() < drainDeadline) await sleep(20);
  await Promise.all(clients.map((client) => client.endAsync()));
  clients = [];
  return { type: 'ceiling', sentBytes, receivedBytes, startedAt, lastReceivedAt };
}

serveParent(async (message) => {
  const request = ceilingRequestSchema.safeParse(message);
  if (!request.success) return undefined;
  switch (request.data.type) {
    case 'measure':
      return measure(request.data);
    case 'stop':
      await Promise.all(clients.map((client) => client.endAsync()));
      // Stopped mid-measurement, the publishers' loops are still running.
      process.exit(0);
  }
});
// The bench died without stopping us (Ctrl-C, a crash): nobody is left to measure for.
process.once('disconnect', () => process.exit(1));
process.send?.({ type: 'ready' });
