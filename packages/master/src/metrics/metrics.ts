import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sql } from 'kysely';
import type { EmbeddedBroker } from '../broker/embedded-broker.ts';
import type { Store } from '../db/store.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { Ingest } from '../runs/ingest.ts';
import { zeroRunCounts } from '../runs/run-state.ts';
import type { LineIndexer } from '../search/line-indexer.ts';
import type { Retention } from '../retention/retention.ts';

export interface MetricsSources {
  store: Store;
  ingest: Ingest;
  hub: LiveHub;
  indexer: LineIndexer;
  retention: Retention;
  /** Absent with an external broker, which keeps its own connections. */
  embeddedBroker?: Pick<EmbeddedBroker, 'unauthenticated'>;
}

/**
 * The master's Prometheus metrics, in a registry of its own (tests run several masters in one
 * process). Counts that live in the database are read at scrape time; rates (chunks/s, bytes/s)
 * are `rate()` over the ingest counters. Labels are fixed sets (run states, reject reasons from
 * the protocol's catalogue), never ids, so the series count stays bounded. Nothing here can
 * hold a secret: only numbers and enumerated labels.
 */
export class MasterMetrics {
  readonly registry = new Registry();
  private readonly commitSeconds: Histogram;
  private readonly httpRefused: Counter;

  constructor(sources: MetricsSources) {
    const registry = this.registry;
    const { store, ingest, hub, indexer, retention } = sources;
    collectDefaultMetrics({ register: registry, prefix: 'edgestelle_master_' });

    new Gauge({
      name: 'edgestelle_nodes_online',
      help: 'Enrolled, not revoked nodes whose agent is connected',
      registers: [registry],
      async collect() {
        const row = await store.db
          .selectFrom('nodes')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('online', '=', 1)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        this.set(Number(row?.n ?? 0));
      },
    });
    new Gauge({
      name: 'edgestelle_runs',
      help: 'Stored runs by state',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        const rows = await store.db
          .selectFrom('runs')
          .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('state')
          .execute();
        const counts: Record<string, number> = zeroRunCounts();
        for (const row of rows) counts[row.state] = Number(row.n);
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new Counter({
      name: 'edgestelle_ingest_chunks_total',
      help: 'Output chunks committed by this master (rate() for chunks/s)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(ingest.stats.chunksStored);
      },
    });
    new Counter({
      name: 'edgestelle_ingest_bytes_total',
      help: 'Output bytes committed by this master (rate() for bytes/s)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(ingest.stats.bytesStored);
      },
    });
    new Gauge({
      name: 'edgestelle_ingest_acks_pending',
      help: 'Agent messages received and not yet acknowledged (waiting for their commit or their ack publish)',
      registers: [registry],
      collect() {
        this.set(ingest.stats.acksPending);
      },
    });
    new Counter({
      name: 'edgestelle_envelopes_rejected_total',
      help: 'MQTT messages refused by ingest, by reason',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of ingest.rejects) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'edgestelle_websocket_clients',
      help: 'Open live-hub WebSocket connections',
      registers: [registry],
      collect() {
        this.set(hub.clientCount);
      },
    });
    new Counter({
      name: 'edgestelle_search_lines_indexed_total',
      help: 'Output lines added to the search index by this master',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(indexer.linesIndexed);
      },
    });
    new Gauge({
      name: 'edgestelle_store_output_bytes',
      help: 'Bytes of run output stored (what retention by size counts)',
      registers: [registry],
      async collect() {
        this.set(await retention.outputBytes());
      },
    });
    new Gauge({
      name: 'edgestelle_store_database_bytes',
      help: 'Size of the database (SQLite file and WAL, or pg_database_size)',
      registers: [registry],
      async collect() {
        this.set(await retention.databaseBytes());
      },
    });
    new Gauge({
      name: 'edgestelle_db_ping_seconds',
      help: 'Round trip of a trivial query at scrape time',
      registers: [registry],
      async collect() {
        const started = performance.now();
        await sql`SELECT 1`.execute(store.db);
        this.set((performance.now() - started) / 1000);
      },
    });
    this.commitSeconds = new Histogram({
      name: 'edgestelle_ingest_commit_seconds',
      help: 'Time to store one ingest batch (one transaction) in the database',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    ingest.onCommit((seconds) => this.commitSeconds.observe(seconds));
    this.httpRefused = new Counter({
      name: 'edgestelle_http_connections_refused_total',
      help: 'HTTP connections closed as they were accepted because EDGESTELLE_HTTP_MAX_CONNECTIONS were open',
      registers: [registry],
    });
    const broker = sources.embeddedBroker;
    if (broker !== undefined) registerUnauthenticatedMetrics(registry, broker);
  }

  /** The HTTP server closed a connection at its connection cap. */
  httpConnectionRefused(): void {
    this.httpRefused.inc();
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function registerUnauthenticatedMetrics(registry: Registry, broker: Pick<EmbeddedBroker, 'unauthenticated'>): void {
  new Gauge({
    name: 'edgestelle_mqtt_unauthenticated_connections',
    help: 'Embedded broker: connections accepted and not yet past their CONNACK',
    registers: [registry],
    collect() {
      this.set(broker.unauthenticated.current);
    },
  });
  new Counter({
    name: 'edgestelle_mqtt_unauthenticated_refused_total',
    help: 'Embedded broker: connections closed before their CONNACK, by reason (limit: EDGESTELLE_MQTT_MAX_UNAUTHENTICATED were waiting; too_large: more than a few KiB before the CONNACK; not_connect: the first packet was not a CONNECT)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(broker.unauthenticated.refused)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'edgestelle_mqtt_connect_timeouts_total',
    help: 'Embedded broker: connections closed because CONNECT and authentication took longer than the deadline',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(broker.unauthenticated.timedOut);
    },
  });
}
