import { rolloutCreateSchema, waveEnds, type RolloutDto, type WaveDto, type WaveState } from '@edgestelle/protocol';
import type { Selectable } from 'kysely';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { systemActor, type Actor, type AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { JobsTable } from '../db/schema.ts';
import type { Store } from '../db/store.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import type { MasterEvents } from '../events.ts';
import { runState } from './dto.ts';
import { failureStates, isTerminalRunState } from './run-state.ts';

/** The rollout as stored in `jobs.rollout`: the request's, defaults applied. */
export type StoredRollout = z.output<typeof rolloutCreateSchema>;

type JobRow = Selectable<JobsTable>;

export interface RolloutGatesOptions {
  store: Store;
  events: MasterEvents;
  clock: Clock;
  logger: Logger;
  audit: AuditLog;
  /** Called when a wave pause ends on this master (another master's sweep covers a master that died). */
  onWaveDue: (jobId: string) => void;
}

/**
 * The gate between two waves, and pausing and resuming a job. Every step is one conditional
 * update on the state it expects (the released wave, `running`/`paused`), so with several
 * masters on one database a gate holds or opens exactly once, whichever master saw the wave
 * end, and a wave is released once. Nothing here keeps state a restart would lose: a pause
 * between waves is a time in the row, found again by any master's sweep.
 */
export class RolloutGates {
  /** One wake-up per job whose wave pause runs on this master. */
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: RolloutGatesOptions) {}

  private get db() {
    return this.options.store.db;
  }

  /** Which wave (1-based) each node of the job's sorted node list belongs to. */
  static wavesOf(rollout: StoredRollout, nodeIds: readonly string[]): number[] {
    const ends = waveEnds(rollout.waves, nodeIds.length);
    const last = ends.at(-1) ?? 0;
    if (last < nodeIds.length) {
      throw new MasterError(
        MasterErrorCode.invalidRequest,
        `the waves cover ${last} of the ${nodeIds.length} target nodes: the last wave must cover every target (end with 100%)`,
        { field: 'rollout.waves' },
      );
    }
    return nodeIds.map((_, index) => ends.findIndex((end) => index < end) + 1);
  }

  /**
   * A running job whose released wave has ended: hold it at the gate (failure rate, approval),
   * start the pause, or release the next wave. True if the job changed.
   */
  async evaluate(job: JobRow, nowMs: number): Promise<boolean> {
    const rollout = parseRollout(job.rollout);
    if (rollout === null || job.wave === null || job.state !== 'running') return false;
    const waves = waveEnds(rollout.waves, job.node_count).length;
    const current = job.wave;
    if (current >= waves) return false;
    const tally = await this.tally(job.job_id, current);
    if (tally.open > 0) return false;
    if (job.wave_opens_at !== null) {
      if (job.wave_opens_at > nowMs) {
        this.wakeAt(job.job_id, job.wave_opens_at, nowMs);
        return false;
      }
      return this.release(job, current, nowMs);
    }
    const rate = tally.size === 0 ? 0 : (100 * tally.failed) / tally.size;
    const of = `wave ${current} of ${waves}`;
    const failedText = `${tally.failed} of ${tally.size} run${tally.size === 1 ? '' : 's'} failed`;
    if (rate > rollout.maxFailureRate) {
      return this.hold(
        job,
        current,
        `${of}: ${failedText} (${formatPercent(rate)}), more than the ${formatPercent(rollout.maxFailureRate)} allowed; resume to go on anyway, cancel to stop`,
      );
    }
    if (rollout.approve) {
      return this.hold(job, current, `${of} ended (${failedText}): waiting for approval to start wave ${current + 1}`);
    }
    if (rollout.wavePauseMs > 0) {
      const opensAt = nowMs + rollout.wavePauseMs;
      const result = await this.db
        .updateTable('jobs')
        .set({ wave_opens_at: opensAt })
        .where('job_id', '=', job.job_id)
        .where('state', '=', 'running')
        .where('wave', '=', current)
        .where('wave_opens_at', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      this.wakeAt(job.job_id, opensAt, nowMs);
      return true;
    }
    return this.release(job, current, nowMs);
  }

  /** The next wave may start; its runs get a fresh offline deadline. */
  private async release(job: JobRow, current: number, nowMs: number): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ wave: current + 1, wave_opens_at: null, deadline_at: nowMs + offlineWindowMs(job) })
      .where('job_id', '=', job.job_id)
      .where('state', '=', 'running')
      .where('wave', '=', current)
      .executeTakeFirst();
    const released = Number(result.numUpdatedRows) > 0;
    if (released) this.options.logger.info({ jobId: job.job_id, wave: current + 1 }, 'wave released');
    return released;
  }

  private async hold(job: JobRow, wave: number, reason: string): Promise<boolean> {
    const held = await this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('jobs')
        .set({ state: 'paused', paused_gate: wave, paused_reason: reason })
        .where('job_id', '=', job.job_id)
        .where('state', '=', 'running')
        .where('wave', '=', wave)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await this.options.audit.record(trx, {
        actor: systemActor,
        action: 'job.pause',
        target: `job:${job.job_id}`,
        details: { gate: wave, reason },
      });
      return true;
    });
    if (held) {
      this.options.logger.info({ jobId: job.job_id, wave, reason }, 'job paused at its gate');
      this.options.events.emit('jobPaused', job.job_id, reason);
    }
    return held;
  }

  /** An operator's pause: no run starts until it is resumed; runs already sent go on. */
  async pause(jobId: string, actor: Actor): Promise<void> {
    const reason = `paused by ${actor.name}`;
    const paused = await this.db.transaction().execute(async (trx) => {
      const job = await this.jobRow(trx, jobId);
      const result = await trx
        .updateTable('jobs')
        .set({ state: 'paused', paused_gate: null, paused_reason: reason })
        .where('job_id', '=', jobId)
        .where('state', '=', 'running')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) {
        if (job.state === 'paused') return false;
        throw new MasterError(
          MasterErrorCode.conflict,
          `job ${jobId} is ${job.state}: only a running job can be paused`,
        );
      }
      await this.options.audit.record(trx, {
        actor,
        action: 'job.pause',
        target: `job:${jobId}`,
        details: { reason },
      });
      return true;
    });
    if (paused) this.options.events.emit('jobPaused', jobId, reason);
  }

  /**
   * Resumes a paused job: at a gate this approves it (the next wave is released, whatever the
   * failure rate was); after an operator's pause the job goes on where it was. Resuming a
   * running job changes nothing.
   */
  async resume(jobId: string, actor: Actor): Promise<void> {
    const nowMs = this.options.clock.now();
    await this.db.transaction().execute(async (trx) => {
      const job = await this.jobRow(trx, jobId);
      if (job.state === 'running') return;
      if (job.state !== 'paused') {
        throw new MasterError(
          MasterErrorCode.conflict,
          `job ${jobId} is ${job.state}: only a paused job can be resumed`,
        );
      }
      let update = trx
        .updateTable('jobs')
        .set({
          state: 'running',
          paused_gate: null,
          paused_reason: null,
          wave: job.paused_gate === null ? job.wave : job.paused_gate + 1,
          // Runs still waiting get the whole offline window from now, not what the pause left.
          deadline_at: Math.max(job.deadline_at, nowMs + offlineWindowMs(job)),
        })
        .where('job_id', '=', jobId)
        .where('state', '=', 'paused');
      update =
        job.paused_gate === null
          ? update.where('paused_gate', 'is', null)
          : update.where('paused_gate', '=', job.paused_gate);
      const result = await update.executeTakeFirst();
      // Another master (or a second click) resumed it first.
      if (Number(result.numUpdatedRows) === 0) return;
      await this.options.audit.record(trx, {
        actor,
        action: 'job.resume',
        target: `job:${jobId}`,
        details: { gate: job.paused_gate, reason: job.paused_reason },
      });
    });
  }

  private async jobRow(trx: Pick<Store['db'], 'selectFrom'>, jobId: string): Promise<JobRow> {
    const job = await trx.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
    if (job === undefined) throw notFound(`job ${jobId}`);
    return job;
  }

  /** The wave's runs: all, still open, failed as the gate counts them. */
  private async tally(jobId: string, wave: number): Promise<{ size: number; open: number; failed: number }> {
    const rows = await this.db
      .selectFrom('runs')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('job_id', '=', jobId)
      .where('wave', '=', wave)
      .groupBy('state')
      .execute();
    const tally = { size: 0, open: 0, failed: 0 };
    for (const row of rows) {
      const state = runState(row.state);
      const n = Number(row.n);
      tally.size += n;
      if (!isTerminalRunState(state)) tally.open += n;
      if (failureStates.includes(state)) tally.failed += n;
    }
    return tally;
  }

  /** The job's waves and where it stands, for its DTO; null without waves. */
  async dto(job: JobRow): Promise<RolloutDto | null> {
    const rollout = parseRollout(job.rollout);
    if (rollout === null || job.wave === null) return null;
    const ends = waveEnds(rollout.waves, job.node_count);
    const rows = await this.db
      .selectFrom('runs')
      .select(['wave', 'state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('job_id', '=', job.job_id)
      .groupBy(['wave', 'state'])
      .execute();
    const current = job.wave;
    const plan: WaveDto[] = ends.map((end, index) => {
      const wave = index + 1;
      let ended = 0;
      let failed = 0;
      let open = 0;
      for (const row of rows) {
        if (row.wave !== wave) continue;
        const state = runState(row.state);
        const n = Number(row.n);
        if (isTerminalRunState(state)) ended += n;
        else open += n;
        if (failureStates.includes(state)) failed += n;
      }
      return {
        wave,
        size: end - (ends[index - 1] ?? 0),
        state: waveState(wave, current, ends.length, open, job),
        ended,
        failed,
      };
    });
    return {
      waves: rollout.waves,
      maxFailureRate: rollout.maxFailureRate,
      wavePauseMs: rollout.wavePauseMs,
      approve: rollout.approve,
      current,
      nextWaveAt: job.wave_opens_at,
      plan,
    };
  }

  /** Pumps the job on this master when its wave pause ends. */
  private wakeAt(jobId: string, atMs: number, nowMs: number): void {
    if (this.timers.has(jobId)) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(jobId);
        this.options.onWaveDue(jobId);
      },
      Math.max(0, atMs - nowMs),
    );
    timer.unref();
    this.timers.set(jobId, timer);
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

function waveState(wave: number, current: number, waves: number, open: number, job: JobRow): WaveState {
  if (wave > current) return job.finished_at === null ? 'pending' : 'skipped';
  if (wave < current) return 'passed';
  if (open > 0) return 'running';
  return wave === waves ? 'passed' : 'gate';
}

export function parseRollout(text: string | null): StoredRollout | null {
  return text === null ? null : rolloutCreateSchema.parse(JSON.parse(text));
}

/** How long a released run may wait for its node. */
export function offlineWindowMs(job: Pick<JobRow, 'offline_deadline_ms' | 'deadline_at' | 'created_at'>): number {
  return job.offline_deadline_ms ?? job.deadline_at - job.created_at;
}

/** `60%`, `12.5%`. */
function formatPercent(value: number): string {
  return `${Math.round(value * 10) / 10}%`;
}
