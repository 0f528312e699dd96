import { existsSync, statSync } from 'node:fs';
import type { RetentionResult, StoreStats } from '@edgestelle/protocol';
import { Cron } from 'croner';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { systemActor, type Actor, type AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import { activeJobStates } from '../runs/run-state.ts';

export interface RetentionSettings {
  /** Finished jobs older than this are deleted; null keeps them. */
  maxAgeDays: number | null;
  /** Oldest finished jobs go until stored output is under this; null for no cap. */
  maxOutputBytes: number | null;
  /** Cron expression, UTC. */
  schedule: string;
}

export interface RetentionOptions extends RetentionSettings {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  /** The SQLite file, to report its size with the WAL. */
  sqlitePath: string | undefined;
}

const DELETE_BATCH = 100;
const DAY_MS = 86_400_000;

/**
 * Retention by age and by total output size, on a schedule (croner) or on demand. It deletes
 * whole finished jobs (their runs, chunks and search lines go by ON DELETE CASCADE), oldest
 * first, in small transactions. Audit events, users, scripts and nodes are never touched.
 * Agents that re-send chunks of a deleted run still get their acks (ingest acks unknown runs).
 */
export class Retention {
  private cron: Cron | undefined;
  private lastRun: RetentionResult | null = null;
  private running: Promise<RetentionResult> | undefined;

  constructor(private readonly options: RetentionOptions) {}

  start(): void {
    this.cron = new Cron(this.options.schedule, { timezone: 'UTC', protect: true }, () => {
      this.run(systemActor, false).catch((err: unknown) => this.options.logger.error({ err }, 'retention pass failed'));
    });
  }

  /** One pass now; a pass already under way is joined, not doubled. */
  run(actor: Actor, manual: boolean): Promise<RetentionResult> {
    this.running ??= this.pass(actor, manual).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(actor: Actor, manual: boolean): Promise<RetentionResult> {
    const { store, clock, maxAgeDays, maxOutputBytes } = this.options;
    const db = store.db;
    const startedAt = clock.now();
    const totals = { jobsDeleted: 0, runsDeleted: 0, outputBytesDeleted: 0 };
    const finished = () => db.selectFrom('jobs').select('job_id').where('state', 'not in', activeJobStates);
    if (maxAgeDays !== null) {
      const cutoff = startedAt - maxAgeDays * DAY_MS;
      for (;;) {
        const batch = await finished().where('created_at', '<', cutoff).orderBy('job_id').limit(DELETE_BATCH).execute();
        if (batch.length === 0) break;
        await this.deleteJobs(
          batch.map((j) => j.job_id),
          totals,
        );
      }
    }
    if (maxOutputBytes !== null) {
      let stored = await this.outputBytes();
      let after: string | undefined;
      while (stored > maxOutputBytes) {
        let query = db
          .selectFrom('jobs')
          .leftJoin('runs', 'runs.job_id', 'jobs.job_id')
          .select([
            'jobs.job_id',
            (eb) => eb.fn.coalesce(eb.fn.sum<number>('runs.output_bytes'), eb.lit(0)).as('bytes'),
          ])
          .where('jobs.state', 'not in', activeJobStates)
          .groupBy('jobs.job_id')
          .orderBy('jobs.job_id')
          .limit(DELETE_BATCH);
        if (after !== undefined) query = query.where('jobs.job_id', '>', after);
        const candidates = await query.execute();
        if (candidates.length === 0) break;
        // Just enough of the oldest to get under the cap, not the whole batch.
        const chosen: string[] = [];
        let freeing = 0;
        for (const candidate of candidates) {
          if (stored - freeing <= maxOutputBytes) break;
          chosen.push(candidate.job_id);
          freeing += Number(candidate.bytes);
        }
        stored -= await this.deleteJobs(chosen, totals);
        after = chosen.at(-1);
      }
    }
    const result: RetentionResult = { startedAt, finishedAt: clock.now(), ...totals };
    if (manual || totals.jobsDeleted > 0) {
      await this.options.audit.record(db, {
        actor,
        action: 'retention.purge',
        target: null,
        details: { ...totals, maxAgeDays, maxOutputBytes },
      });
    }
    if (totals.jobsDeleted > 0) this.options.logger.info(result, 'retention deleted old jobs');
    this.lastRun = result;
    return result;
  }

  private async deleteJobs(
    jobIds: readonly string[],
    totals: { jobsDeleted: number; runsDeleted: number; outputBytesDeleted: number },
  ): Promise<number> {
    return this.options.store.db.transaction().execute(async (trx) => {
      const sizes = await trx
        .selectFrom('runs')
        .select([(eb) => eb.fn.countAll<number>().as('runs'), (eb) => eb.fn.sum<number>('output_bytes').as('bytes')])
        .where('job_id', 'in', jobIds)
        .executeTakeFirst();
      // A job that started running again in between (it cannot, but a scale-out peer could race) stays.
      const deleted = await trx
        .deleteFrom('jobs')
        .where('job_id', 'in', jobIds)
        .where('state', 'not in', activeJobStates)
        .executeTakeFirst();
      const bytes = Number(sizes?.bytes ?? 0);
      totals.jobsDeleted += Number(deleted.numDeletedRows);
      totals.runsDeleted += Number(sizes?.runs ?? 0);
      totals.outputBytesDeleted += bytes;
      return bytes;
    });
  }

  async outputBytes(): Promise<number> {
    const row = await this.options.store.db
      .selectFrom('runs')
      .select((eb) => eb.fn.sum<number>('output_bytes').as('bytes'))
      .executeTakeFirst();
    return Number(row?.bytes ?? 0);
  }

  async databaseBytes(): Promise<number> {
    const { store, sqlitePath } = this.options;
    if (store.dialect === 'postgres') {
      const result = await sql<{ bytes: number }>`SELECT pg_database_size(current_database())::bigint AS bytes`.execute(
        store.db,
      );
      return Number(result.rows[0]?.bytes ?? 0);
    }
    if (sqlitePath === undefined) return 0;
    return [sqlitePath, `${sqlitePath}-wal`].reduce(
      (sum, path) => sum + (existsSync(path) ? statSync(path).size : 0),
      0,
    );
  }

  async stats(): Promise<StoreStats> {
    const db = this.options.store.db;
    const count = async (table: 'run_chunks' | 'runs' | 'jobs' | 'audit_events'): Promise<number> => {
      const row = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    };
    const oldest = await db
      .selectFrom('jobs')
      .select((eb) => eb.fn.min<number>('created_at').as('at'))
      .executeTakeFirst();
    return {
      dialect: this.options.store.dialect,
      databaseBytes: await this.databaseBytes(),
      outputBytes: await this.outputBytes(),
      chunks: await count('run_chunks'),
      runs: await count('runs'),
      jobs: await count('jobs'),
      auditEvents: await count('audit_events'),
      oldestJobAt: oldest?.at === null || oldest?.at === undefined ? null : Number(oldest.at),
      retention: {
        maxAgeDays: this.options.maxAgeDays,
        maxOutputBytes: this.options.maxOutputBytes,
        schedule: this.options.schedule,
        lastRun: this.lastRun,
      },
    };
  }

  async close(): Promise<void> {
    this.cron?.stop();
    // Whoever started the pass hears its failure; shutdown only waits for it to end.
    await this.running?.catch((err: unknown) =>
      this.options.logger.debug({ err }, 'retention pass ended with an error'),
    );
  }
}
