/**
 * Ingest throughput (issues 4 and 9): N simulated agents print as fast as their flow control
 * lets them for S seconds; we measure the bytes/s stored (committed) by the master and pushed
 * to one WebSocket client subscribed to every run, against the raw mqtt.js pub→sub ceiling of
 * the same broker with the same message size, measured in the same run. Output is 64-byte text
 * lines, so lines = bytes / 64.
 *
 * Topology: the master runs in this process (with its broker when embedded; Mosquitto is its
 * own process), the WebSocket client in a worker thread of it. The simulated agents
 * (ingest-agents.ts) run in a child process, as agents never share the master's event loop in
 * reality, and so do the ceiling's publishers and subscriber (ingest-ceiling.ts): both figures
 * are measured with the clients in another process and the broker where it really is. On a
 * shared 2-core machine the agents' process still competes with the master for the cores.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { startMaster } from '@edgestelle/fleet-fixture';
import { Topics } from '@edgestelle/protocol';
import { sealMessage } from '@edgestelle/protocol/envelope';
import { pino } from 'pino';
import { z } from 'zod';
import { forkChild, nodeFlagsFromEnv, type BenchChild } from '../lib/child.ts';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { cpuSeconds } from '../lib/proc.ts';
import { inBatches, sleep } from '../lib/stats.ts';
import {
  LINE_BYTES,
  agentsDoneSchema,
  agentsOnlineSchema,
  ceilingResultSchema,
  childReadySchema,
  connect,
  textLines,
  type AgentCredentials,
  type AgentsRequest,
  type CeilingRequest,
} from './ingest-wire.ts';

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
  /**
   * CPU time per MB moved, in ms: the master's process (with the embedded broker and the
   * WebSocket client's thread) and the agents' process while they print; the broker's process
   * (the master's when embedded, else unknown) and the raw clients' while the ceiling runs.
   */
  cpuMsPerMB: { master: number; agents: number; ceilingBroker: number | null; ceilingClients: number };
}

const reportSchema = z.object({
  kind: z.literal('report'),
  pushedBytes: z.number(),
  pushedAt: z.number(),
  closeCode: z.number().nullable(),
});

/** Runs `use` with a child of this scenario, and stops it by its pid whatever happens. */
async function withChild<T>(entry: string, use: (child: BenchChild) => Promise<T>): Promise<T> {
  const { child } = await forkChild(
    new URL(entry, import.meta.url),
    [],
    childReadySchema,
    60_000,
    nodeFlagsFromEnv('EDGESTELLE_BENCH_INGEST_NODE_FLAGS'),
  );
  try {
    return await use(child);
  } finally {
    await child.stop(10_000);
  }
}

export async function measureIngest(options: IngestOptions): Promise<IngestResult> {
  const { agents: agentCount, chunkBytes, window } = options;
  const durationMs = options.seconds * 1000;
  const topics = new Topics(options.topicPrefix);
  // The master's own pace: real time, its default ingest flush; only the sweeper stays off.
  const fleet = await startMaster({
    db: options.db,
    config: { topicPrefix: options.topicPrefix, mqttUrl: options.mqttUrl, logLevel: 'warn' },
    deps: { logger: pino({ level: 'warn' }), sweepIntervalMs: 0, clock: undefined, ingestFlushIntervalMs: undefined },
  });
  const master = fleet.master;
  const stateTopics: string[] = [];
  try {
    // ---- the master path ------------------------------------------------------------------
    const token = (
      await master.enrollment.createJoinToken(
        { ttlSec: 3600, maxUses: agentCount, tags: { bench: '1' }, description: 'bench', nodeId: null },
        'bench',
      )
    ).token;
    const credentials: AgentCredentials[] = [];
    await inBatches(
      Array.from({ length: agentCount }, (_, i) => i),
      50,
      async (index) => {
        const nodeId = `${options.topicPrefix}-${index}`;
        const creds = await master.enrollment.enroll({ token, nodeId, name: nodeId }, undefined);
        credentials.push({
          index,
          nodeId,
          keyId: creds.keyId,
          nodeKeyBase64: creds.nodeKey,
          mqttUrl: creds.mqtt.url,
          mqttPassword: creds.mqtt.password,
        });
        stateTopics.push(topics.node(nodeId, 'state'));
      },
    );
    const ingest = await withChild('./ingest-agents.ts', async (agents) => {
      const start: AgentsRequest = {
        type: 'start',
        topicPrefix: options.topicPrefix,
        chunkBytes,
        window,
        durationMs,
        agents: credentials,
      };
      await agents.call(start, agentsOnlineSchema, 30_000);
      const deadline = Date.now() + 30_000;
      while ((await master.nodes.list({ online: true })).length < agentCount) {
        if (Date.now() > deadline)
          throw new BenchError(BenchErrorCode.timeout, 'the ingest agents did not come online');
        await sleep(50);
      }
      const apiToken = fleet.admin.token;
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
      const cpuBefore = { master: cpuSeconds(process.pid), agents: cpuSeconds(agents.pid) };
      const finish: AgentsRequest = { type: 'finish' };
      const { firstChunkAt } = await agents.call(finish, agentsDoneSchema, durationMs + 120_000);
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
      const cpu = {
        master: cpuSeconds(process.pid) - cpuBefore.master,
        agents: cpuSeconds(agents.pid) - cpuBefore.agents,
      };
      counter.postMessage('close');
      return {
        cpu,
        storedBytes,
        storedRate: storedBytes / ((storedAt - firstChunkAt) / 1000),
        pushed,
        pushedRate: pushed.pushedBytes / ((pushed.pushedAt - firstChunkAt) / 1000),
        jobId: job.jobId,
      };
    });

    // ---- the raw ceiling: same broker, same message size, plain pub→sub -----------------------
    const firstKey = credentials[0];
    const envelopeBytes = sealMessage(
      topics.node(`${options.topicPrefix}-0`, 'evt'),
      { kind: 'output', runId: ingest.jobId, seq: 0, stream: 'stdout', data: textLines(chunkBytes) },
      firstKey === undefined
        ? { keyId: 0, key: Buffer.alloc(32) }
        : { keyId: firstKey.keyId, key: Buffer.from(firstKey.nodeKeyBase64, 'base64') },
    ).byteLength;
    const embedded = options.mqttUrl === undefined;
    const measure: CeilingRequest = {
      type: 'measure',
      brokerUrl: master.brokerUrl,
      ...(embedded
        ? {
            username: 'edgestelle:master',
            password: (await readFile(join(fleet.dir, 'master', 'mqtt-master-password'), 'utf8')).trim(),
          }
        : {}),
      topicPrefix: options.topicPrefix,
      publishers: agentCount,
      messageBytes: envelopeBytes,
      durationMs,
    };
    const { ceiling, ceilingCpu } = await withChild('./ingest-ceiling.ts', async (child) => {
      // From here, not before the child starts: the broker's figure is its forwarding alone.
      const ceilingBrokerBefore = cpuSeconds(process.pid);
      const clientsBefore = cpuSeconds(child.pid);
      const result = await child.call(measure, ceilingResultSchema, durationMs + 60_000);
      return {
        ceiling: result,
        ceilingCpu: {
          broker: cpuSeconds(process.pid) - ceilingBrokerBefore,
          clients: cpuSeconds(child.pid) - clientsBefore,
        },
      };
    });
    const rawRate = ceiling.receivedBytes / ((ceiling.lastReceivedAt - ceiling.startedAt) / 1000);
    const bytesPerSec = Math.min(ingest.storedRate, ingest.pushedRate);
    return {
      ceilingBytesPerSec: rawRate,
      storedBytesPerSec: ingest.storedRate,
      pushedBytesPerSec: ingest.pushedRate,
      bytesPerSec,
      linesPerSec: bytesPerSec / LINE_BYTES,
      ratioToCeiling: bytesPerSec / rawRate,
      envelopeBytes,
      ceilingDeliveredRatio: ceiling.receivedBytes / ceiling.sentBytes,
      storedBytes: ingest.storedBytes,
      pushedBytes: ingest.pushed.pushedBytes,
      wsCloseCode: ingest.pushed.closeCode,
      cpuMsPerMB: {
        master: msPerMB(ingest.cpu.master, ingest.storedBytes),
        agents: msPerMB(ingest.cpu.agents, ingest.storedBytes),
        ceilingBroker: embedded ? msPerMB(ceilingCpu.broker, ceiling.receivedBytes) : null,
        ceilingClients: msPerMB(ceilingCpu.clients, ceiling.receivedBytes),
      },
    };
  } finally {
    await fleet[Symbol.asyncDispose]();
    if (options.mqttUrl !== undefined) await clearRetained(options.mqttUrl, stateTopics);
  }
}

const msPerMB = (cpuSeconds: number, bytes: number): number => (cpuSeconds * 1000) / (bytes / 1e6);

/** On a shared broker, leave no retained message behind. */
async function clearRetained(url: string, stateTopics: readonly string[]): Promise<void> {
  if (stateTopics.length === 0) return;
  const client = await connect(url, `edgestelle-bench-clean-${process.pid}`);
  for (const topic of stateTopics) await client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
  await client.endAsync();
}
