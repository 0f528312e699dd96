/**
 * Child entry of the ingest scenario (ingest.ts): the simulated agents, in their own process as
 * agents are in reality, so their sealing and publishing do not compete with the master for
 * its event loop. Each speaks the protocol directly (seal, publish with a window, honour the
 * master's acks) rather than running createAgent: the scenario measures the master's ingest
 * path, not the agents' spools.
 *
 * Says `ready` once loaded; `start` (the enrolled credentials) connects every agent and
 * answers `online`; `finish` answers `done` once every run is acknowledged to its end; `stop`
 * closes the connections and exits.
 */
import { Topics, type AgentEvent, type Command } from '@edgestelle/protocol';
import { openMessage, sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import type { MqttClient } from 'mqtt';
import { serveParent } from '../lib/child.ts';
import { inBatches } from '../lib/stats.ts';
import { agentsRequestSchema, connect, textLines, type AgentCredentials, type AgentsRequest } from './ingest-wire.ts';

const RESEND_AFTER_MS = 3000;

type Load = Extract<AgentsRequest, { type: 'start' }>;

interface SimAgent {
  client: MqttClient;
  done: Promise<void>;
}

const agents: SimAgent[] = [];
/** When the first agent started printing: every agent prints until `durationMs` after it. */
const firstChunk = { at: 0 };

/** A protocol-level agent: accepts one run, prints `chunkBytes` chunks until the time is up, honours master acks. */
async function simAgent(load: Load, topics: Topics, creds: AgentCredentials): Promise<SimAgent> {
  const { chunkBytes, window, durationMs } = load;
  const { nodeId, index } = creds;
  const key: SealingKey = { keyId: creds.keyId, key: Buffer.from(creds.nodeKeyBase64, 'base64') };
  const client = await connect(creds.mqttUrl, nodeId, nodeId, creds.mqttPassword);
  const evt = topics.node(nodeId, 'evt');
  const state = topics.node(nodeId, 'state');
  const send = (event: AgentEvent) => client.publishAsync(evt, sealMessage(evt, event, key), { qos: 1 });
  let acked = -1;
  let wake: (() => void) | undefined;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const data = textLines(chunkBytes);
  // As the real agent does: no ack progress for a while, and what is unacknowledged goes again
  // (a shared Mosquitto drops QoS 1 messages for a subscriber that falls behind).
  const ackOrTimeout = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), RESEND_AFTER_MS);
      wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  const resend = (from: number, to: number): void => {
    for (let s = from; s < to; s += 1) void send({ kind: 'output', runId: currentRun, seq: s, stream: 'stdout', data });
  };
  let currentRun = '';
  client.on('message', (topic, payload) => {
    const opened = openMessage(topics, topic, payload, {
      keyFor: (_n, keyId) => (keyId === key.keyId ? key.key : undefined),
    });
    if (opened.channel !== 'cmd') return;
    const command: Command = opened.message;
    if (command.kind === 'ack') {
      for (const run of command.runs) acked = Math.max(acked, run.seq);
      wake?.();
    } else if (command.kind === 'run') {
      void (async () => {
        const runId = command.runId;
        currentRun = runId;
        await send({ kind: 'accepted', runId });
        await send({ kind: 'started', runId, startedAt: Date.now(), pid: 1000 + index });
        if (firstChunk.at === 0) firstChunk.at = Date.now();
        let seq = 0;
        const inFlight = new Set<Promise<unknown>>();
        while (Date.now() - firstChunk.at < durationMs) {
          // End-to-end flow control, as the real agent's spool gives: at most `window` chunks the master has not acked.
          while (seq - acked > window) {
            if (!(await ackOrTimeout())) resend(acked + 1, seq);
          }
          const p = send({ kind: 'output', runId, seq, stream: 'stdout', data });
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
          seq += 1;
          if (inFlight.size >= 16) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
        const exited: AgentEvent = {
          kind: 'exited',
          runId,
          seq,
          outcome: 'succeeded',
          exitCode: 0,
          signal: null,
          startedAt: firstChunk.at,
          endedAt: Date.now(),
          peakRssBytes: null,
          outputBytes: seq * chunkBytes,
          outputTruncated: false,
        };
        await send(exited);
        while (acked < seq) {
          if (!(await ackOrTimeout())) {
            resend(acked + 1, seq);
            if (acked + 1 >= seq) void send(exited);
          }
        }
        resolveDone();
      })();
    }
  });
  await client.subscribeAsync(topics.node(nodeId, 'cmd'), { qos: 1 });
  await client.publishAsync(
    state,
    sealMessage(state, { kind: 'state', online: true, connectionSeq: 1, beat: 0 }, key),
    {
      qos: 1,
      retain: true,
    },
  );
  return { client, done };
}

serveParent(async (message) => {
  const request = agentsRequestSchema.safeParse(message);
  if (!request.success) return undefined;
  switch (request.data.type) {
    case 'start': {
      const load = request.data;
      const topics = new Topics(load.topicPrefix);
      await inBatches(load.agents, 50, async (creds) => {
        agents.push(await simAgent(load, topics, creds));
      });
      return { type: 'online' };
    }
    case 'finish':
      await Promise.all(agents.map((agent) => agent.done));
      return { type: 'done', firstChunkAt: firstChunk.at };
    case 'stop':
      await Promise.all(agents.map((agent) => agent.client.endAsync()));
      // A run stopped before its end still has a resend timer pending.
      process.exit(0);
  }
});
// The bench died without stopping us (Ctrl-C, a crash): nobody is left to measure for.
process.once('disconnect', () => process.exit(1));
process.send?.({ type: 'ready' });
