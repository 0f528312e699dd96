import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Store } from '../db/store.ts';
import type { MasterEvents, StoredChunk } from '../events.ts';
import type { NodeKeys } from '../node-keys.ts';
import type { ShutdownSteps } from '../shutdown-steps.ts';

const CHANNEL = 'edgestelle_live';
const FLUSH_MS = 50;
/** PostgreSQL caps a NOTIFY payload at 8000 bytes; stay well under. */
const MAX_PAYLOAD_CHARS = 7000;

const notificationSchema = z.object({
  from: z.string(),
  nodes: z.array(z.string()).default([]),
  runs: z.array(z.tuple([z.string(), z.string()])).default([]),
  jobs: z.array(z.string()).default([]),
  chunks: z.array(z.string()).default([]),
});
type Notification = z.infer<typeof notificationSchema>;

interface PgRelay {
  close(): Promise<void>;
}

/**
 * Carries live updates between masters that share one PostgreSQL (docs/DESIGN.md "Scale-out"):
 * what one master commits is announced with NOTIFY, coalesced every 50 ms, and every other
 * master re-announces it to its own live hub. Only ids travel; hubs read the rows themselves,
 * so a lost notification delays an update but never corrupts one.
 */
async function startPgRelay(options: {
  store: Store;
  events: MasterEvents;
  logger: Logger;
  /** A node changed elsewhere (enrolled, revoked): its key epoch may have moved. */
  onRemoteNode: (nodeId: string) => void;
}): Promise<PgRelay> {
  const { store, events, logger } = options;
  const url = store.postgresUrl;
  if (url === undefined) throw new Error('the live relay needs PostgreSQL');
  const self = randomUUID();
  let closing = false;
  let listener: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const reconnectSoon = (): void => {
    retry = setTimeout(() => {
      listen().catch((err: unknown) => {
        logger.warn({ err }, 'live relay could not reconnect; trying again');
        if (!closing) reconnectSoon();
      });
    }, 1000);
  };
  const listen = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    client.on('notification', onNotification);
    client.on('error', (err) => logger.warn({ err }, 'live relay connection failed; reconnecting'));
    client.on('end', () => {
      if (closing || listener !== client) return;
      listener = undefined;
      // Updates from other masters pause until then; local clients keep their own master's.
      reconnectSoon();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      await client.end().catch((endErr: unknown) => logger.debug({ err: endErr }, 'closing a failed relay connection'));
      throw err;
    }
    listener = client;
  };

  let relaying = false;
  const onNotification = (message: pg.Notification): void => {
    if (message.channel !== CHANNEL || message.payload === undefined) return;
    let parsed: Notification;
    try {
      parsed = notificationSchema.parse(JSON.parse(message.payload));
    } catch (err) {
      logger.warn({ err }, 'ignored a malformed live notification');
      return;
    }
    if (parsed.from === self) return;
    relaying = true;
    try {
      for (const nodeId of parsed.nodes) {
        options.onRemoteNode(nodeId);
        events.emit('node', nodeId);
      }
      for (const [runId, jobId] of parsed.runs) events.emit('run', runId, jobId);
      for (const jobId of parsed.jobs) events.emit('job', jobId);
      for (const runId of parsed.chunks) events.emit('chunks', runId, []);
    } finally {
      relaying = false;
    }
  };
  await listen();

  const pending = {
    nodes: new Set<string>(),
    runs: new Map<string, string>(),
    jobs: new Set<string>(),
    chunks: new Set<string>(),
  };
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    timer ??= setTimeout(() => {
      timer = undefined;
      flush().catch((err: unknown) => logger.warn({ err }, 'sending live notifications failed'));
    }, FLUSH_MS);
  };
  const flush = async (): Promise<void> => {
    const items: Array<[keyof Omit<Notification, 'from'>, string | [string, string]]> = [
      ...[...pending.nodes].map((id): ['nodes', string] => ['nodes', id]),
      ...[...pending.runs].map(([runId, jobId]): ['runs', [string, string]] => ['runs', [runId, jobId]]),
      ...[...pending.jobs].map((id): ['jobs', string] => ['jobs', id]),
      ...[...pending.chunks].map((id): ['chunks', string] => ['chunks', id]),
    ];
    pending.nodes.clear();
    pending.runs.clear();
    pending.jobs.clear();
    pending.chunks.clear();
    let note: Notification = { from: self, nodes: [], runs: [], jobs: [], chunks: [] };
    const send = async (): Promise<void> => {
      await sql`SELECT pg_notify(${CHANNEL}, ${JSON.stringify(note)})`.execute(store.db);
      note = { from: self, nodes: [], runs: [], jobs: [], chunks: [] };
    };
    let size = 100;
    for (const [kind, value] of items) {
      const cost = JSON.stringify(value).length + 1;
      if (size + cost > MAX_PAYLOAD_CHARS) {
        await send();
        size = 100;
      }
      size += cost;
      if (kind === 'runs' && Array.isArray(value)) note.runs.push(value);
      else if (kind !== 'runs' && typeof value === 'string') note[kind].push(value);
    }
    if (size > 100) await send();
  };
  const onNode = (nodeId: string): void => {
    if (relaying) return;
    pending.nodes.add(nodeId);
    schedule();
  };
  const onRun = (runId: string, jobId: string): void => {
    if (relaying) return;
    pending.runs.set(runId, jobId);
    schedule();
  };
  const onJob = (jobId: string): void => {
    if (relaying) return;
    pending.jobs.add(jobId);
    schedule();
  };
  const onChunks = (runId: string, _chunks: readonly StoredChunk[]): void => {
    if (relaying) return;
    pending.chunks.add(runId);
    schedule();
  };
  events.on('node', onNode);
  events.on('run', onRun);
  events.on('job', onJob);
  events.on('chunks', onChunks);
  return {
    async close() {
      events.off('node', onNode);
      events.off('run', onRun);
      events.off('job', onJob);
      events.off('chunks', onChunks);
      closing = true;
      clearTimeout(timer);
      clearTimeout(retry);
      await flush();
      await listener?.end();
    },
  };
}

/**
 * The relay when the database is PostgreSQL, which several masters may share; with SQLite
 * there is no other master. A node another master enrolled or revoked has its key re-read.
 */
export async function startLiveRelay(options: {
  store: Store;
  events: MasterEvents;
  keys: Pick<NodeKeys, 'reload'>;
  logger: Logger;
  shutdown: Pick<ShutdownSteps, 'add'>;
}): Promise<void> {
  const { store, keys, logger } = options;
  if (store.dialect !== 'postgres') return;
  const relay = await startPgRelay({
    store,
    events: options.events,
    logger: logger.child({ component: 'live-relay' }),
    onRemoteNode: (nodeId) => {
      keys.reload([nodeId]).catch((err: unknown) => logger.warn({ err, nodeId }, 're-reading a node failed'));
    },
  });
  options.shutdown.add('live relay', () => relay.close());
}
