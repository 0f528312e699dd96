/**
 * Ingest throughput (issue 4): N simulated agents print as fast as their flow control lets
 * them for S seconds; we measure the bytes/s stored (committed) by the master and pushed to
 * one WebSocket client subscribed to every run, against the raw mqtt.js pub→sub ceiling of the
 * same broker with the same message size, measured in the same run.
 *
 *   npm run bench -w @edgestelle/master                      # 100 agents, 10 s
 *   npm run bench -w @edgestelle/master -- --seconds 2       # CI smoke
 *   flags: --seconds N --agents N --chunk-bytes N --window N --db sqlite|postgres
 *
 * Everything runs in this one process (master, embedded broker, agents, client) on a shared
 * 2-core machine: the agents' sealing and the client's decoding compete with the master, so
 * the figures are a floor for the master alone.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Topics, type AgentEvent, type Command } from '@edgestelle/protocol';
import { openMessage, sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import { freshPostgresDatabase, tempDir } from '@edgestelle/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { configFrom, createMaster } from '../src/index.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    agents: { type: 'string', default: '100' },
    'chunk-bytes': { type: 'string', default: '16384' },
    window: { type: 'string', default: '32' },
    db: { type: 'string', default: 'sqlite' },
  },
});
const seconds = Number(values.seconds);
const agentCount = Number(values.agents);
const chunkBytes = Number(values['chunk-bytes']);
const window = Number(values.window);
const durationMs = seconds * 1000;

const topics = new Topics();
await using dir = await tempDir('edgestelle-bench-');
const pg = values.db === 'postgres' ? await freshPostgresDatabase() : undefined;
const master = await createMaster(
  configFrom({
    dataDir: join(dir.path, 'master'),
    httpPort: '0',
    mqttPort: '0',
    adminPassword: 'bench-password',
    databaseUrl: pg?.url,
  }),
  { logger: pino({ level: 'warn' }), sweepIntervalMs: 0 },
);

interface SimAgent {
  nodeId: string;
  client: MqttClient;
  key: SealingKey;
  done: Promise<void>;
}

function connect(url: string, clientId: string, username: string, password: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, clientId, username, password, reconnectPeriod: 0, clean: true });
}

/** A protocol-level agent: accepts one run, prints `chunkBytes` chunks until the time is up, honours master acks. */
async function simAgent(index: number, token: string, startAt: { t: number }): Promise<SimAgent> {
  const nodeId = `bench-${index}`;
  const creds = await master.enrollment.enroll({ token, nodeId, name: nodeId }, undefined);
  const key: SealingKey = { keyId: creds.keyId, key: Buffer.from(creds.nodeKey, 'base64') };
  const client = await connect(creds.mqtt.url, nodeId, nodeId, creds.mqtt.password);
  const evt = topics.node(nodeId, 'evt');
  const state = topics.node(nodeId, 'state');
  const send = (event: AgentEvent) => client.publishAsync(evt, sealMessage(evt, event, key), { qos: 1 });
  let acked = -1;
  let wake: (() => void) | undefined;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const data = randomBytes(chunkBytes);
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
        await send({ kind: 'accepted', runId });
        await send({ kind: 'started', runId, startedAt: Date.now(), pid: 1000 + index });
        if (startAt.t === 0) startAt.t = Date.now();
        let seq = 0;
        const inFlight = new Set<Promise<unknown>>();
        while (Date.now() - startAt.t < durationMs) {
          // End-to-end flow control, as the real agent's spool gives: at most `window` chunks the master has not acked.
          while (seq - acked > window) await new Promise<void>((resolve) => (wake = resolve));
          const p = send({ kind: 'output', runId, seq, stream: 'stdout', data });
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
          seq += 1;
          if (inFlight.size >= 16) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
        await send({
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
        });
        while (acked < seq) await new Promise<void>((resolve) => (wake = resolve));
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
  return { nodeId, client, key, done };
}

// ---- the master path ------------------------------------------------------------------------
const token = (
  await master.enrollment.createJoinToken(
    { ttlSec: 3600, maxUses: agentCount, tags: { bench: '1' }, description: 'bench' },
    'bench',
  )
).token;
const startAt = { t: 0 };
const agents = await Promise.all(Array.from({ length: agentCount }, (_, i) => simAgent(i, token, startAt)));
const deadline = Date.now() + 30_000;
while ((await master.nodes.list({ online: true })).length < agentCount) {
  if (Date.now() > deadline) throw new Error('agents did not come online');
  await new Promise((resolve) => setTimeout(resolve, 50));
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
const reportSchema = z.object({
  kind: z.literal('report'),
  pushedBytes: z.number(),
  pushedAt: z.number(),
  closeCode: z.number().nullable(),
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
await Promise.all(agents.map((a) => a.done));
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
  await new Promise((resolve) => setTimeout(resolve, 50));
  pushed = await report();
}
const { pushedBytes, pushedAt, closeCode } = pushed;
const storedRate = storedBytes / ((storedAt - startAt.t) / 1000);
const pushedRate = pushedBytes / ((pushedAt - startAt.t) / 1000);
counter.postMessage('close');
await Promise.all(agents.map((a) => a.client.endAsync()));

// ---- the raw ceiling: same broker, same message size, plain pub→sub -------------------------
const envelopeBytes = sealMessage(
  topics.node('bench-0', 'evt'),
  { kind: 'output', runId: job.jobId, seq: 0, stream: 'stdout', data: randomBytes(chunkBytes) },
  agents[0]?.key ?? { keyId: 0, key: Buffer.alloc(32) },
).byteLength;
const masterPassword = (await readFile(join(dir.path, 'master', 'mqtt-master-password'), 'utf8')).trim();
const brokerUrl = master.brokerUrl;
const sub = await connect(brokerUrl, 'bench-raw-sub', 'edgestelle:master', masterPassword);
let rawBytes = 0;
let rawLastAt = 0;
sub.on('message', (_t, payload) => {
  rawBytes += payload.byteLength;
  rawLastAt = Date.now();
});
await sub.subscribeAsync(`${topics.prefix}/bench/raw/+`, { qos: 1 });
const payload = randomBytes(envelopeBytes);
const pubs = await Promise.all(
  Array.from({ length: agentCount }, (_, i) =>
    connect(brokerUrl, `bench-raw-${i}`, 'edgestelle:master', masterPassword),
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
const rawDeadline = Date.now() + 60_000;
while (rawBytes < rawSent && Date.now() < rawDeadline) await new Promise((resolve) => setTimeout(resolve, 20));
const rawRate = rawBytes / ((rawLastAt - rawStart) / 1000);
await Promise.all([...pubs, sub].map((c) => c.endAsync()));
await master.close();
await pg?.[Symbol.asyncDispose]();

const mb = (bytesPerSec: number) => `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
console.log(
  `ingest bench: ${agentCount} agents × ${seconds} s, ${chunkBytes}-byte chunks (${envelopeBytes}-byte envelopes), ${values.db}`,
);
console.log(`  stored (committed)       ${mb(storedRate)}   (${(storedBytes / 1e6).toFixed(1)} MB)`);
console.log(
  `  pushed to 1 WS client    ${mb(pushedRate)}   (${(pushedBytes / 1e6).toFixed(1)} MB${closeCode === null ? '' : `, closed with ${closeCode}`})`,
);
console.log(`  raw pub→sub ceiling      ${mb(rawRate)}   (same broker, QoS 1, same message size)`);
console.log(`  ratio stored/ceiling     ${(storedRate / rawRate).toFixed(2)}`);
console.log(`  ratio pushed/ceiling     ${(pushedRate / rawRate).toFixed(2)}`);
