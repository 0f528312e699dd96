/**
 * Ingest throughput (issues 4 and 9): N simulated agents print as fast as their flow control
 * lets them for S seconds; we measure the bytes/s stored (committed) by the master and pushed
 * to one WebSocket client subscribed to every run, against the raw mqtt.js pub→sub ceiling of
 * the same broker with the same message size, measured in the same run.
 *
 * The agents here speak the protocol directly (seal, publish with a window, honour the
 * master's acks) rather than running createAgent: this measures the master's ingest path,
 * not the agents' spools. Output is 64-byte text lines, so lines = bytes / 64.
 *
 * Everything runs in this one process (master, broker if embedded, agents, client) on a
 * shared 2-core machine: the agents' sealing and the client's decoding compete with the
 * master, so the figures are a floor for the master alone.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { configFrom, createMaster } from '@edgestelle/master';
import { Topics, type AgentEvent, type Command } from '@edgestelle/protocol';
import { openMessage, sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import { freshPostgresDatabase, tempDir } from '@edgestelle/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { z } from 'zod';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { inBatches, sleep } from '../lib/stats.ts';

export const LINE_BYTES = 64;
const RESEND_AFTER_MS = 3000;

export interface IngestOptions {
  seconds: number;
  agents: number;
  chunkBytes: number;
  /** Chunks an agent may have unacknowledged by the master. */
  window: number;
  db: 'sqlite' | 'postgres';
  /** An external broker (anonymous); the master's embedded one if absent. */
  mqttUrl?: string;
  /** Also the node ids' prefix: lower-case letters, digits and '-', unique per run on a shared broker. */
  topicPrefix: string;
}

export interface IngestResult {
  /** Raw mqtt.js QoS 1 pub→sub through the same broker, same message size. */
  ceilingBytesPerSec: number;
  storedBytesPerSec: number;
  pushedBytesPerSec: number;
  /** Stored and delivered to the WebSocket client: bytes pushed ÷ time to the last push. */
  bytesPerSec: number;
  linesPerSec: number;
  ratioToCeiling: number;
  envelopeBytes: number;
  /** Of the ceiling's bytes published, the part delivered: < 1 when the broker dropped for its subscriber. */
  ceilingDeliveredRatio: number;
  storedBytes: number;
  pushedBytes: number;
  wsCloseCode: number | null;
}

interface SimAgent {
  nodeId: string;
  client: MqttClient;
  key: SealingKey;
  done: Promise<void>;
}

const reportSchema = z.object({
  kind: z.literal('report'),
  pushedBytes: z.number(),
  pushedAt: z.number(),
  closeCode: z.number().nullable(),
});

function connect(url: string, clientId: string, username?: string, password?: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    protocolVersion: 4,
    clientId,
    reconnectPeriod: 0,
    clean: true,
    ...(username === undefined ? {} : { username, password }),
  });
}

/** `bytes` of 64-byte text lines. */
function textLines(bytes: number) {
  const line = `${'edgestelle ingest benchmark line '.padEnd(LINE_BYTES - 1, '.')}\n`;
  return Buffer.from(line.repeat(Math.ceil(bytes / LINE_BYTES)).slice(0, bytes), 'latin1');
}

export async function measureIngest(options: IngestOptions): Promise<IngestResult> {
  const { agents: agentCount, chunkBytes, window } = options;
  const durationMs = options.seconds * 1000;
  const topics = new Topics(options.topicPrefix);
  await using dir = await tempDir('edgestelle-bench-ingest-');
  const pg = options.db === 'postgres' ? await freshPostgresDatabase() : undefined;
  const master = await createMaster(
    configFrom({
      dataDir: join(dir.path, 'master'),
      httpPort: '0',
      ...(options.mqttUrl === undefined ? { mqttPort: '0' } : { mqttUrl: options.mqttUrl }),
      topicPrefix: options.topicPrefix,
      adminPassword: 'bench-password',
      databaseUrl: pg?.url,
    }),
    { logger: pino({ level: 'warn' }), sweepIntervalMs: 0 },
  );
  const stateTopics: string[] = [];
  try {
    /** A protocol-level agent: accepts one run, prints `chunkBytes` chunks until the time is up, honours master acks. */
    const simAgent = async (index: number, token: string, startAt: { t: number }): Promise<SimAgent> => {
      const nodeId = `${options.topicPrefix}-${index}`;
      const creds = await master.enrollment.enroll({ token, nodeId, name: nodeId }, undefined);
      const key: SealingKey = { keyId: creds.keyId, key: Buffer.from(creds.nodeKey, 'base64') };
      const client = await connect(creds.mqtt.url, nodeId, nodeId, creds.mqtt.password);
      const evt = topics.node(nodeId, 'evt');
      const state = topics.node(nodeId, 'state');
      stateTopics.push(state);
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
        for (let s = from; s < to; s += 1)
          void send({ kind: 'output', runId: currentRun, seq: s, stream: 'stdout', data });
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
            if (startAt.t === 0) startAt.t = Date.now();
            let seq = 0;
            const inFlight = new Set<Promise<unknown>>();
            while (Date.now() - startAt.t < durationMs) {
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
              startedAt: startAt.t,
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
        { qos: 1, retain: true },
      );
      return { nodeId, client, key, done };
    };

    // ---- the master path ------------------------------------------------------------------
    const token = (
      await master.enrollment.createJoinToken(
        { ttlSec: 3600, maxUses: agentCount, tags: { bench: '1' }, description: 'bench' },
        'bench',
      )
    ).token;
    const startAt = { t: 0 };
    const agents: SimAgent[] = [];
    await inBatches(
      Array.from({ length: agentCount }, (_, i) => i),
      50,
      async (i) => {
        agents.push(await simAgent(i, token, startAt));
      },
    );
    const deadline = Date.now() + 30_000;
    while ((await master.nodes.list({ online: true })).length < agentCount) {
      if (Date.now() > deadline) throw new BenchError(BenchErrorCode.timeout, 'the ingest agents did not come online');
      await sleep(50);
    }
    const users = await master.store.db.selectFrom('users').select('user_id').executeTakeFirstOrThrow();
    const apiToken = (await master.auth.createApiToken(users.user_id, 'bench', null)).token;
    const job = await master.dispatcher.createJob(
      {
        target: { tags: { bench: '1' } },
        spec: { command: 'bench', timeoutMs: 600_000, args: [], env: {}, killGraceMs: 0, pty: false },
        offlineDeadlineMs: 60_000,
      },
      'bench',
    );
    const runs = await master.store.db.selectFrom('runs').select('run_id').where('job_id', '=', job.jobId).execute();
    const counter = new Worker(new URL('./ws-counter.mjs', import.meta.url), {
      workerData: { url: master.url, token: apiToken, runIds: runs.map((r) => r.run_id) },
    });
    const report = () =>
      new Promise<z.infer<typeof reportSchema>>((resolve) => {
        const onMessage = (message: unknown): void => {
          const parsed = reportSchema.safeParse(message);
          if (!parsed.success) return;
          counter.off('message', onMessage);
          resolve(parsed.data);
        };
        counter.on('message', onMessage);
        counter.postMessage('report');
      });
    let stall: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(agents.map((a) => a.done)),
      new Promise<never>((_, reject) => {
        stall = setTimeout(
          () => reject(new BenchError(BenchErrorCode.timeout, 'the ingest runs were not all acknowledged in time')),
          durationMs + 120_000,
        );
      }),
    ]);
    clearTimeout(stall);
    const storedAt = Date.now();
    const { stored } = await master.store.db
      .selectFrom('runs')
      .select((eb) => eb.fn.sum<number>('output_bytes').as('stored'))
      .where('job_id', '=', job.jobId)
      .executeTakeFirstOrThrow();
    const storedBytes = Number(stored);
    const drainDeadline = Date.now() + 60_000;
    let pushed = await report();
    while (pushed.pushedBytes < storedBytes && pushed.closeCode === null && Date.now() < drainDeadline) {
      await sleep(50);
      pushed = await report();
    }
    const { pushedBytes, pushedAt, closeCode } = pushed;
    const storedRate = storedBytes / ((storedAt - startAt.t) / 1000);
    const pushedRate = pushedBytes / ((pushedAt - startAt.t) / 1000);
    counter.postMessage('close');
    await Promise.all(agents.map((a) => a.client.endAsync()));

    // ---- the raw ceiling: same broker, same message size, plain pub→sub -----------------------
    const envelopeBytes = sealMessage(
      topics.node(`${options.topicPrefix}-0`, 'evt'),
      { kind: 'output', runId: job.jobId, seq: 0, stream: 'stdout', data: textLines(chunkBytes) },
      agents[0]?.key ?? { keyId: 0, key: Buffer.alloc(32) },
    ).byteLength;
    const embedded = options.mqttUrl === undefined;
    const masterPassword = embedded
      ? (await readFile(join(dir.path, 'master', 'mqtt-master-password'), 'utf8')).trim()
      : undefined;
    const rawUser = embedded ? 'edgestelle:master' : undefined;
    const brokerUrl = master.brokerUrl;
    const sub = await connect(brokerUrl, `${options.topicPrefix}-raw-sub`, rawUser, masterPassword);
    let rawBytes = 0;
    let rawLastAt = 0;
    sub.on('message', (_t, payload) => {
      rawBytes += payload.byteLength;
      rawLastAt = Date.now();
    });
    await sub.subscribeAsync(`${topics.prefix}/bench/raw/+`, { qos: 1 });
    const payload = textLines(envelopeBytes);
    const pubs = await Promise.all(
      Array.from({ length: agentCount }, (_, i) =>
        connect(brokerUrl, `${options.topicPrefix}-raw-${i}`, rawUser, masterPassword),
      ),
    );
    let rawSent = 0;
    const rawStart = Date.now();
    await Promise.all(
      pubs.map(async (pub, i) => {
        const inFlight = new Set<Promise<unknown>>();
        while (Date.now() - rawStart < durationMs) {
          const p = pub.publishAsync(`${topics.prefix}/bench/raw/${i}`, payload, { qos: 1 });
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
          rawSent += payload.byteLength;
          if (inFlight.size >= 16) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
      }),
    );
    // A broker that drops for a slow subscriber (Mosquitto's max_queued_messages) never delivers it all.
    const rawDeadline = Date.now() + 10_000;
    while (rawBytes < rawSent && Date.now() < rawDeadline) await sleep(20);
    const rawRate = rawBytes / ((rawLastAt - rawStart) / 1000);
    await Promise.all([...pubs, sub].map((c) => c.endAsync()));
    const bytesPerSec = Math.min(storedRate, pushedRate);
    return {
      ceilingBytesPerSec: rawRate,
      storedBytesPerSec: storedRate,
      pushedBytesPerSec: pushedRate,
      bytesPerSec,
      linesPerSec: bytesPerSec / LINE_BYTES,
      ratioToCeiling: bytesPerSec / rawRate,
      envelopeBytes,
      ceilingDeliveredRatio: rawBytes / rawSent,
      storedBytes,
      pushedBytes,
      wsCloseCode: closeCode,
    };
  } finally {
    await master.close();
    if (options.mqttUrl !== undefined) await clearRetained(options.mqttUrl, stateTopics);
    await pg?.[Symbol.asyncDispose]();
  }
}

/** On a shared broker, leave no retained message behind. */
async function clearRetained(url: string, stateTopics: readonly string[]): Promise<void> {
  if (stateTopics.length === 0) return;
  const client = await connect(url, `edgestelle-bench-clean-${process.pid}`);
  for (const topic of stateTopics) await client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
  await client.endAsync();
}
