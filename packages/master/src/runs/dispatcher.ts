import {
  SECRET_MASK,
  jobStateSchema,
  limits,
  newId,
  runSpecSchema,
  rolloutLimitSchema,
  type Command,
  type JobDto,
  type RolloutLimit,
  type RunDto,
  type RunSpec,
  type RunState,
  type ScriptParams,
  type ScriptRef,
  type jobCreateSchema,
} from '@edgestelle/protocol';
import { systemActor, type Actor, type AuditLog } from '../audit/audit-log.ts';
import type { ScriptLibrary } from '../scripts/script-library.ts';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import type { Database, JobsTable } from '../db/schema.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import type { MasterEvents } from '../events.ts';
import { assertPtyCapable } from '../nodes/pty-capability.ts';
import { parseTags, tagsMatch } from '../nodes/tags.ts';
import { jobDto, runDto, runState } from './dto.ts';
import { jobOutcome } from './job-outcome.ts';
import { slices } from './ingest.ts';
import { activeStates, failureStates, isTerminalRunState, openStates, zeroRunCounts } from './run-state.ts';
import { RolloutGates } from './rollout-gates.ts';
import type { SecretEnvBox } from './secret-env.ts';

export type JobCreateInput = z.output<typeof jobCreateSchema>;

/** A job a schedule's fire makes: which schedule, and the fire's claim, run in the job's transaction. */
export interface ScheduledOrigin {
  scheduleId: string;
  scheduleName: string;
  /** Throws to roll the job back (another master fired this cron time first). */
  claim: (trx: Transaction<Database>, jobId: string) => Promise<void>;
}

export interface DispatcherOptions {
  store: Store;
  events: MasterEvents;
  clock: Clock;
  logger: Logger;
  sendCommand: (nodeId: string, command: Command) => Promise<void>;
  audit: AuditLog;
  scripts: ScriptLibrary;
  /** Seals a job's secret variables for the database and opens them for its run commands. */
  secretEnv: SecretEnvBox;
  /** How long a started run may go without an exit report past its own timeout before it is given up. */
  lostRunGraceMs?: number;
  /** How long a delivered cancel may go unconfirmed (past the kill grace) before the run is called cancelled. */
  cancelGraceMs?: number;
}

/**
 * Jobs into runs and runs onto nodes: stores a job and its runs as `queued` in one
 * transaction before anything is published, then starts runs within the job's concurrency
 * and failure limits on nodes that are online. Runs for offline nodes wait until the node
 * comes back or the job's offline deadline passes. Every state change is a conditional update
 * on the expected state, so two masters (or a pump and a cancel) never send a run twice.
 */
export class Dispatcher {
  private readonly pumping = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  private readonly again = new Set<string>();
  private readonly lostRunGraceMs: number;
  private readonly cancelGraceMs: number;
  private readonly gates: RolloutGates;

  constructor(private readonly options: DispatcherOptions) {
    this.lostRunGraceMs = options.lostRunGraceMs ?? 10 * 60_000;
    this.cancelGraceMs = options.cancelGraceMs ?? 60_000;
    this.gates = new RolloutGates({ ...options, onWaveDue: (jobId) => this.pumpInBackground([jobId]) });
  }

  private get db() {
    return this.options.store.db;
  }

  /** Stores the job and its queued runs (and the audit event) in one transaction, then starts what may start. */
  async createJob(input: JobCreateInput, createdBy: string, actor?: Actor, origin?: ScheduledOrigin): Promise<JobDto> {
    const nowMs = this.options.clock.now();
    const resolved = await this.resolveSpec(input);
    const secretNames = checkSecretEnv(resolved.spec, input.secretEnv ?? {});
    const onlineOnly = input.onlineOnly === true || input.offlineDeadlineMs === 0;
    const { nodeIds, leftOut } = await this.resolveTargets(input.target, onlineOnly);
    const offlineDeadlineMs = input.offlineDeadlineMs === 0 ? limits.offlineDeadlineDefaultMs : input.offlineDeadlineMs;
    const waves = input.rollout === undefined ? null : RolloutGates.wavesOf(input.rollout, nodeIds);
    if (resolved.spec.pty) await assertPtyCapable(this.db, nodeIds, 'spec.pty');
    const jobId = newId(nowMs);
    const secretEnv =
      input.secretEnv === undefined || secretNames.length === 0
        ? null
        : this.options.secretEnv.seal(jobId, input.secretEnv);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('jobs')
        .values({
          job_id: jobId,
          created_at: nowMs,
          created_by: createdBy,
          state: 'running',
          spec: JSON.stringify(resolved.spec),
          script_name: resolved.script?.name ?? null,
          script_version: resolved.script?.version ?? null,
          params: resolved.script === null ? null : JSON.stringify(resolved.params),
          secret_env: secretEnv,
          secret_env_names: secretEnv === null ? null : JSON.stringify(secretNames),
          target: JSON.stringify(input.target),
          concurrency: input.concurrency === undefined ? null : JSON.stringify(input.concurrency),
          max_failures: input.maxFailures === undefined ? null : JSON.stringify(input.maxFailures),
          deadline_at: nowMs + offlineDeadlineMs,
          node_count: nodeIds.length,
          finished_at: null,
          stop_reason: null,
          outcome: null,
          left_out: leftOut.length === 0 ? null : JSON.stringify(leftOut),
          rollout: input.rollout === undefined ? null : JSON.stringify(input.rollout),
          wave: waves === null ? null : 1,
          offline_deadline_ms: offlineDeadlineMs,
          schedule_id: origin?.scheduleId ?? null,
          schedule_name: origin?.scheduleName ?? null,
        })
        .execute();
      await origin?.claim(trx, jobId);
      for (const [offset, part] of slices(nodeIds, 500).entries()) {
        await trx
          .insertInto('runs')
          .values(
            part.map((nodeId, index) => ({
              run_id: newId(nowMs),
              job_id: jobId,
              node_id: nodeId,
              state: 'queued',
              exit_code: null,
              signal: null,
              reason: null,
              created_at: nowMs,
              sent_at: null,
              started_at: null,
              ended_at: null,
              exited_seq: null,
              cancel_requested_at: null,
              updated_at: nowMs,
              wave: waves?.[offset * 500 + index] ?? null,
            })),
          )
          .execute();
      }
      await this.options.audit.record(trx, {
        actor: actor ?? { name: createdBy, ip: null },
        action: 'job.create',
        target: `job:${jobId}`,
        details: {
          nodeCount: nodeIds.length,
          ...(leftOut.length === 0 ? {} : { leftOutOffline: leftOut.length }),
          ...(resolved.script === null ? {} : { script: `${resolved.script.name}@${resolved.script.version}` }),
          ...(origin === undefined ? {} : { schedule: origin.scheduleName }),
          ...(secretNames.length === 0
            ? {}
            : { secretEnv: secretNames.map((name) => `${name}=${SECRET_MASK}`).join(' ') }),
        },
      });
    });
    this.options.logger.info({ jobId, nodes: nodeIds.length, createdBy }, 'job created');
    await this.pump(jobId);
    return this.job(jobId);
  }

  private async resolveSpec(
    input: JobCreateInput,
  ): Promise<{ spec: RunSpec; script: ScriptRef | null; params: ScriptParams }> {
    if (input.script !== undefined) {
      return this.options.scripts.resolve(input.script, input.params ?? {}, input.timeoutMs);
    }
    if (input.spec === undefined) {
      throw new MasterError(MasterErrorCode.invalidRequest, 'give exactly one of spec and script', { field: 'spec' });
    }
    return { spec: input.spec, script: null, params: {} };
  }

  /**
   * The target's enrolled node ids, sorted; with `onlineOnly`, the offline ones go to `leftOut`.
   * No node at all (or none online) is an error: a job on nothing is a mistake.
   */
  private async resolveTargets(
    target: JobCreateInput['target'],
    onlineOnly: boolean,
  ): Promise<{ nodeIds: string[]; leftOut: string[] }> {
    const live = this.db.selectFrom('nodes').select(['node_id', 'tags', 'online']).where('revoked_at', 'is', null);
    let matched: Array<{ node_id: string; online: number }>;
    if ('nodeIds' in target) {
      const wanted = [...new Set(target.nodeIds)];
      const found = new Map<string, { node_id: string; online: number }>();
      for (const part of slices(wanted, 500)) {
        for (const row of await live.where('node_id', 'in', part).execute()) found.set(row.node_id, row);
      }
      const unknown = wanted.filter((nodeId) => !found.has(nodeId));
      if (unknown.length > 0) {
        const shown = unknown.slice(0, 20).join(', ') + (unknown.length > 20 ? ` and ${unknown.length - 20} more` : '');
        throw new MasterError(
          MasterErrorCode.unknownNodes,
          `these nodes are not enrolled (or were revoked): ${shown}`,
          { field: 'target.nodeIds' },
        );
      }
      matched = [...found.values()];
    } else if ('tags' in target) {
      matched = (await live.execute()).filter((r) => tagsMatch(parseTags(r.tags), target.tags));
    } else {
      matched = await live.execute();
    }
    if (matched.length === 0) {
      throw new MasterError(MasterErrorCode.noMatchingNodes, 'the target matches no enrolled node', {
        field: 'target',
      });
    }
    const byId = (a: string, b: string) => a.localeCompare(b);
    if (!onlineOnly) return { nodeIds: matched.map((r) => r.node_id).sort(byId), leftOut: [] };
    const nodeIds = matched.filter((r) => r.online === 1).map((r) => r.node_id);
    if (nodeIds.length === 0) {
      throw new MasterError(
        MasterErrorCode.noOnlineNodes,
        `none of the ${matched.length} node${matched.length === 1 ? '' : 's'} the target matches is online; without onlineOnly (and with offlineDeadlineMs above 0) the job waits for them`,
        { field: 'target' },
      );
    }
    return {
      nodeIds: nodeIds.sort(byId),
      leftOut: matched
        .filter((r) => r.online !== 1)
        .map((r) => r.node_id)
        .sort(byId),
    };
  }

  async job(jobId: string): Promise<JobDto> {
    const row = await this.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
    if (row === undefined) throw notFound(`job ${jobId}`);
    return jobDto(row, await this.counts(jobId), await this.gates.dto(row));
  }

  async counts(jobId: string, executor: Kysely<Database> = this.db): Promise<Record<RunState, number>> {
    const rows = await executor
      .selectFrom('runs')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('job_id', '=', jobId)
      .groupBy('state')
      .execute();
    const counts = zeroRunCounts();
    for (const row of rows) counts[runState(row.state)] = Number(row.n);
    return counts;
  }

  private async countRuns(jobId: string, states: readonly RunState[]): Promise<number> {
    const row = await this.db
      .selectFrom('runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('job_id', '=', jobId)
      .where('state', 'in', states)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The runs with these ids that exist, in no particular order. */
  async runsById(runIds: readonly string[]): Promise<RunDto[]> {
    const out: RunDto[] = [];
    for (const part of slices(runIds, 500)) {
      for (const row of await this.db.selectFrom('runs').selectAll().where('run_id', 'in', part).execute()) {
        out.push(runDto(row));
      }
    }
    return out;
  }

  async run(runId: string): Promise<RunDto> {
    const row = await this.db.selectFrom('runs').selectAll().where('run_id', '=', runId).executeTakeFirst();
    if (row === undefined) throw notFound(`run ${runId}`);
    return runDto(row);
  }

  /**
   * Starts what may start now. Calls for one job are coalesced: while one pass runs, further
   * calls ask for exactly one more pass.
   */
  async pump(jobId: string): Promise<void> {
    if (this.pumping.has(jobId)) {
      this.again.add(jobId);
      return;
    }
    this.pumping.add(jobId);
    try {
      do {
        this.again.delete(jobId);
        await this.pumpOnce(jobId);
      } while (this.again.has(jobId));
    } finally {
      this.pumping.delete(jobId);
    }
  }

  pumpInBackground(jobIds: Iterable<string>): void {
    for (const jobId of jobIds) {
      this.background(this.pump(jobId), jobId);
    }
  }

  /** {@link onNodeOnline} in the background: ingest calls it for every node whose connection comes up. */
  onNodeOnlineInBackground(nodeId: string): void {
    this.background(this.onNodeOnline(nodeId), `re-sending to ${nodeId}`);
  }

  /** Work nobody awaits (pumps after ingest, re-sends to a node back online), tracked for close(). */
  background(work: Promise<void>, what: string): void {
    if (this.closed) return;
    const tracked = work
      .catch((err: unknown) => this.options.logger.error({ err, what }, 'dispatching failed'))
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /** Stops taking background work and waits for what runs, so nothing touches a closed database. */
  async close(): Promise<void> {
    this.closed = true;
    this.gates.close();
    await Promise.all(this.inFlight);
  }

  private async pumpOnce(jobId: string): Promise<void> {
    let job = await this.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
    if (job === undefined) return;
    const nowMs = this.options.clock.now();
    let changed = false;
    if (job.state === 'running') {
      // Only the counts a limit needs, each over the runs in those states (an index range): a
      // job on ten thousand nodes pumps after every ingest batch, and counting all its runs
      // then took ~1.6 ms a time on SQLite.
      const maxFailures = parseLimit(job.max_failures);
      const failed = maxFailures === null ? 0 : await this.countRuns(jobId, failureStates);
      if (maxFailures !== null && failed >= threshold(maxFailures, job.node_count)) {
        const reason = `not started: the job stopped after ${failed} failed run${failed === 1 ? '' : 's'} (maxFailures)`;
        // Runs of waves never released were not started at all; the released ones' queued runs
        // are cancelled as on any job.
        const skipped =
          job.wave === null
            ? []
            : await this.db
                .updateTable('runs')
                .set({ state: 'not_started', reason, ended_at: nowMs, updated_at: nowMs })
                .where('job_id', '=', jobId)
                .where('state', '=', 'queued')
                .where('wave', '>', job.wave)
                .returning(['run_id'])
                .execute();
        const stopped = await this.db
          .updateTable('runs')
          .set({ state: 'cancelled', reason, ended_at: nowMs, updated_at: nowMs })
          .where('job_id', '=', jobId)
          .where('state', '=', 'queued')
          .returning(['run_id'])
          .execute();
        await this.db
          .updateTable('jobs')
          .set({ state: 'stopped', stop_reason: reason })
          .where('job_id', '=', jobId)
          .where('state', '=', 'running')
          .execute();
        job = { ...job, state: 'stopped', stop_reason: reason };
        for (const { run_id } of [...skipped, ...stopped]) this.options.events.emit('run', run_id, jobId);
        changed = true;
      } else {
        if (await this.gates.evaluate(job, nowMs)) {
          changed = true;
          job = await this.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirstOrThrow();
        }
        if (job.state === 'running' && nowMs < job.deadline_at)
          changed = (await this.startReleased(job, nowMs)) || changed;
      }
    }
    if (await this.finishIfDone(job, nowMs)) changed = true;
    if (changed) this.options.events.emit('job', jobId);
  }

  /** Starts queued runs of the released waves, within the job's concurrency. */
  private async startReleased(job: Selectable<JobsTable>, nowMs: number): Promise<boolean> {
    const queued = await this.countRuns(job.job_id, ['queued']);
    const concurrency = parseLimit(job.concurrency);
    const slots =
      queued === 0 || concurrency === null
        ? queued
        : threshold(concurrency, job.node_count) - (await this.countRuns(job.job_id, activeStates));
    return slots > 0 && (await this.startQueued(job, slots, nowMs));
  }

  /** Sends up to `slots` queued runs whose nodes are online now. */
  private async startQueued(job: Selectable<JobsTable>, slots: number, nowMs: number): Promise<boolean> {
    let query = this.db
      .selectFrom('runs')
      .innerJoin('nodes', 'nodes.node_id', 'runs.node_id')
      .select('runs.run_id')
      .where('runs.job_id', '=', job.job_id)
      .where('runs.state', '=', 'queued')
      .where('nodes.online', '=', 1)
      .where('nodes.revoked_at', 'is', null);
    if (job.wave !== null) query = query.where('runs.wave', '<=', job.wave);
    const ready = await query.orderBy('runs.node_id').limit(slots).execute();
    if (ready.length === 0) return false;
    const spec = this.specToSend(job.job_id, job.spec, job.secret_env);
    const sends: Array<Promise<void>> = [];
    const readyIds = ready.map((run) => run.run_id);
    for (const part of slices(readyIds, 500)) {
      // One conditional update claims a slice; a run a cancel or another master took meanwhile
      // is simply not returned. Node by node, claim-then-publish cost a round trip to the
      // database and a PUBACK per node, one after another.
      const claimed = await this.db
        .updateTable('runs')
        .set({ state: 'sent', sent_at: nowMs, updated_at: nowMs })
        .where('run_id', 'in', part)
        .where('state', '=', 'queued')
        .returning(['run_id', 'node_id'])
        .execute();
      for (const run of claimed) {
        this.options.events.emit('run', run.run_id, job.job_id);
        // The publisher's window bounds what is in flight; the next slice is claimed meanwhile.
        sends.push(
          this.send(run.node_id, {
            kind: 'run',
            runId: run.run_id,
            jobId: job.job_id,
            deadlineAt: job.deadline_at,
            spec,
          }),
        );
      }
    }
    await Promise.all(sends);
    return sends.length > 0;
  }

  /**
   * The spec as a node gets it: the secret values opened into its env here, just before the
   * command is sealed under the node's key, and nowhere else.
   */
  private specToSend(jobId: string, specJson: string, secretEnv: Uint8Array | null): RunSpec {
    const spec = runSpecSchema.parse(JSON.parse(specJson));
    if (secretEnv === null) return spec;
    return { ...spec, env: { ...spec.env, ...this.options.secretEnv.open(jobId, secretEnv) } };
  }

  private async send(nodeId: string, command: Command): Promise<void> {
    try {
      await this.options.sendCommand(nodeId, command);
    } catch (err) {
      // The run stays `sent`; it is re-sent when the node's next connection comes online.
      this.options.logger.warn({ err, nodeId, kind: command.kind }, 'publishing a command failed');
    }
  }

  /**
   * Ends a job whose runs are all terminal: its final state and its outcome (from the runs'
   * counts) in one transaction, on the state it was read in, so a cancel or another master
   * finishing it at the same moment leaves one consistent answer. Terminal runs never change,
   * so the counts read here are the final ones.
   */
  private async finishIfDone(job: Selectable<JobsTable>, nowMs: number): Promise<boolean> {
    if (job.finished_at !== null) return false;
    const open = await this.db
      .selectFrom('runs')
      .select('run_id')
      .where('job_id', '=', job.job_id)
      .where('state', 'in', openStates)
      .limit(1)
      .executeTakeFirst();
    if (open !== undefined) return false;
    const ended = await this.db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('jobs')
        .select(['state', 'finished_at'])
        .where('job_id', '=', job.job_id)
        .executeTakeFirst();
      if (current === undefined || current.finished_at !== null) return false;
      const counts = await this.counts(job.job_id, trx);
      if (openStates.some((state) => counts[state] > 0)) return false;
      const state = jobStateSchema.parse(current.state);
      // A job paused by its operator whose runs all ended is finished too.
      const finalState = state === 'running' || state === 'paused' ? 'finished' : state;
      const finished = await trx
        .updateTable('jobs')
        .set({
          state: finalState,
          finished_at: nowMs,
          outcome: jobOutcome(finalState, counts),
          paused_gate: null,
          paused_reason: null,
        })
        .where('job_id', '=', job.job_id)
        .where('state', '=', current.state)
        .where('finished_at', 'is', null)
        .executeTakeFirst();
      return Number(finished.numUpdatedRows) > 0;
    });
    // Only the master whose update ended it says so: webhooks hear of each job once.
    if (ended) this.options.events.emit('jobFinished', job.job_id);
    return ended;
  }

  /** A node's new connection is up: re-send what it never accepted, start what waited for it. */
  async onNodeOnline(nodeId: string): Promise<void> {
    const nowMs = this.options.clock.now();
    const unaccepted = await this.db
      .selectFrom('runs')
      .innerJoin('jobs', 'jobs.job_id', 'runs.job_id')
      .select(['runs.run_id', 'runs.job_id', 'jobs.spec', 'jobs.secret_env', 'jobs.deadline_at'])
      .where('runs.node_id', '=', nodeId)
      .where('runs.state', '=', 'sent')
      .execute();
    for (const run of unaccepted) {
      if (run.deadline_at <= nowMs) continue;
      // The agent's run ledger makes a second delivery harmless.
      await this.send(nodeId, {
        kind: 'run',
        runId: run.run_id,
        jobId: run.job_id,
        deadlineAt: run.deadline_at,
        spec: this.specToSend(run.job_id, run.spec, run.secret_env),
      });
    }
    const waiting = await this.db
      .selectFrom('runs')
      .select('job_id')
      .distinct()
      .where('node_id', '=', nodeId)
      .where('state', '=', 'queued')
      .execute();
    for (const { job_id } of waiting) await this.pump(job_id);
  }

  async cancelRun(runId: string, actor: Actor = systemActor): Promise<RunDto> {
    const row = await this.db.selectFrom('runs').selectAll().where('run_id', '=', runId).executeTakeFirst();
    if (row === undefined) throw notFound(`run ${runId}`);
    await this.options.audit.record(this.db, {
      actor,
      action: 'run.cancel',
      target: `run:${runId}`,
      details: { jobId: row.job_id, nodeId: row.node_id, state: row.state },
    });
    await this.cancelOne(row.run_id, row.job_id, row.node_id, runState(row.state));
    await this.pump(row.job_id);
    return this.run(runId);
  }

  private async cancelOne(runId: string, jobId: string, nodeId: string, state: RunState): Promise<void> {
    const nowMs = this.options.clock.now();
    if (isTerminalRunState(state)) return;
    if (state === 'queued') {
      await this.db
        .updateTable('runs')
        .set({ state: 'cancelled', reason: 'cancelled before delivery', ended_at: nowMs, updated_at: nowMs })
        .where('run_id', '=', runId)
        .where('state', '=', 'queued')
        .execute();
    } else {
      await this.db
        .updateTable('runs')
        .set({ cancel_requested_at: nowMs, updated_at: nowMs })
        .where('run_id', '=', runId)
        .execute();
      await this.send(nodeId, { kind: 'cancel', runId });
    }
    this.options.events.emit('run', runId, jobId);
    this.options.events.emit('job', jobId);
  }

  async cancelJob(jobId: string, actor: Actor = systemActor): Promise<JobDto> {
    const job = await this.db.transaction().execute(async (trx) => {
      const job = await trx
        .selectFrom('jobs')
        .select(['job_id', 'state', 'wave', 'paused_gate', 'paused_reason'])
        .where('job_id', '=', jobId)
        .executeTakeFirst();
      if (job === undefined) throw notFound(`job ${jobId}`);
      await trx
        .updateTable('jobs')
        .set({ state: 'cancelled', stop_reason: 'cancelled', paused_gate: null, paused_reason: null })
        .where('job_id', '=', jobId)
        .where('state', 'in', ['running', 'paused'])
        .execute();
      await this.options.audit.record(trx, {
        actor,
        action: 'job.cancel',
        target: `job:${jobId}`,
        details: { state: job.state },
      });
      return job;
    });
    if (job.wave !== null) await this.skipUnreleasedWaves(job, actor);
    const open = await this.db
      .selectFrom('runs')
      .select(['run_id', 'node_id', 'state'])
      .where('job_id', '=', jobId)
      .where('state', 'in', openStates)
      .execute();
    for (const run of open) await this.cancelOne(run.run_id, jobId, run.node_id, runState(run.state));
    await this.pump(jobId);
    return this.job(jobId);
  }

  /** A cancelled rollout: the runs of waves never released end `not_started`, saying where it stopped. */
  private async skipUnreleasedWaves(
    job: Pick<Selectable<JobsTable>, 'job_id' | 'wave' | 'paused_gate' | 'paused_reason'>,
    actor: Actor,
  ): Promise<void> {
    if (job.wave === null) return;
    const nowMs = this.options.clock.now();
    const reason =
      job.paused_gate === null
        ? `not started: the rollout was cancelled by ${actor.name} during wave ${job.wave}`
        : `not started: the rollout was cancelled by ${actor.name} at the gate after wave ${job.paused_gate} (${job.paused_reason ?? 'paused'})`;
    const skipped = await this.db
      .updateTable('runs')
      .set({ state: 'not_started', reason: reason.slice(0, limits.reasonMaxChars), ended_at: nowMs, updated_at: nowMs })
      .where('job_id', '=', job.job_id)
      .where('state', '=', 'queued')
      .where('wave', '>', job.wave)
      .returning(['run_id'])
      .execute();
    for (const { run_id } of skipped) this.options.events.emit('run', run_id, job.job_id);
  }

  /** Pauses a running job: no further run starts (runs already sent go on) until {@link resumeJob}. */
  async pauseJob(jobId: string, actor: Actor): Promise<JobDto> {
    await this.gates.pause(jobId, actor);
    this.options.events.emit('job', jobId);
    return this.job(jobId);
  }

  /** Resumes a paused job; at a rollout's gate this approves the next wave. */
  async resumeJob(jobId: string, actor: Actor): Promise<JobDto> {
    await this.gates.resume(jobId, actor);
    this.options.events.emit('job', jobId);
    await this.pump(jobId);
    return this.job(jobId);
  }

  /**
   * Nothing stays stuck: runs whose node stayed away past the deadline expire, runs that never
   * reported an exit are given up as interrupted, unconfirmed cancels become cancelled.
   */
  async sweep(): Promise<number> {
    const nowMs = this.options.clock.now();
    const jobs = new Set<string>();
    const finish = async (runId: string, jobId: string, from: RunState, to: RunState, reason: string) => {
      const result = await this.db
        .updateTable('runs')
        .set({ state: to, reason, ended_at: nowMs, updated_at: nowMs })
        .where('run_id', '=', runId)
        .where('state', '=', from)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return;
      jobs.add(jobId);
      this.options.events.emit('run', runId, jobId);
    };
    const candidates = await this.db
      .selectFrom('runs')
      .innerJoin('jobs', 'jobs.job_id', 'runs.job_id')
      .select([
        'runs.run_id',
        'runs.job_id',
        'runs.state',
        'runs.sent_at',
        'runs.started_at',
        'runs.cancel_requested_at',
        'jobs.deadline_at',
        'jobs.spec',
        'jobs.state as job_state',
        'runs.wave',
        'jobs.wave as job_wave',
      ])
      .where('runs.state', 'in', openStates)
      .execute();
    for (const run of candidates) {
      const state = runState(run.state);
      // A run no one may start yet (its wave is not released, its job is paused) is not late.
      const held =
        run.job_state === 'paused' || (run.wave !== null && run.job_wave !== null && run.wave > run.job_wave);
      if (state === 'queued' && run.deadline_at <= nowMs && !held) {
        await finish(run.run_id, run.job_id, state, 'expired', "the node was offline until the job's deadline");
        continue;
      }
      if (state === 'sent' && run.deadline_at <= nowMs) {
        await finish(
          run.run_id,
          run.job_id,
          state,
          'expired',
          "the node did not accept the run before the job's deadline",
        );
        continue;
      }
      const spec = runSpecSchema.parse(JSON.parse(run.spec));
      if (
        run.cancel_requested_at !== null &&
        run.cancel_requested_at + spec.killGraceMs + this.cancelGraceMs <= nowMs
      ) {
        await finish(
          run.run_id,
          run.job_id,
          state,
          'cancelled',
          'cancelled; the node did not confirm it stopped the run',
        );
        continue;
      }
      if (state === 'accepted' || state === 'running') {
        const since = run.started_at ?? run.sent_at ?? nowMs;
        if (since + Math.min(spec.timeoutMs, limits.timeoutMaxMs) + spec.killGraceMs + this.lostRunGraceMs <= nowMs) {
          await finish(run.run_id, run.job_id, state, 'interrupted', 'the node never reported how the run ended');
        }
      }
    }
    for (const jobId of jobs) await this.pump(jobId);
    // A rollout whose wave ended or whose wave pause ran out while the master watching it was
    // down: any master takes it on (the gate's updates are conditional, so only one acts).
    const rollouts = await this.db
      .selectFrom('jobs')
      .select('job_id')
      .where('state', '=', 'running')
      .where('wave', 'is not', null)
      .execute();
    for (const { job_id } of rollouts) if (!jobs.has(job_id)) await this.pump(job_id);
    return jobs.size;
  }
}

/**
 * The secret names, sorted, once they are known not to clash with the spec's own variables (an
 * inline spec's env, a library script's PARAM_*) and to fit, together with them, in the limit.
 */
function checkSecretEnv(spec: RunSpec, secretEnv: Readonly<Record<string, string>>): string[] {
  const names = Object.keys(secretEnv).sort();
  const clash = names.find((name) => Object.hasOwn(spec.env, name));
  if (clash !== undefined) {
    throw new MasterError(
      MasterErrorCode.invalidRequest,
      `${clash} is both a plain and a secret variable: give it in env or in secretEnv, not both`,
      { field: `secretEnv.${clash}` },
    );
  }
  const count = Object.keys(spec.env).length + names.length;
  if (count > limits.envMaxCount) {
    throw new MasterError(
      MasterErrorCode.invalidRequest,
      `${count} variables with the secret ones; a run takes at most ${limits.envMaxCount}`,
      { field: 'secretEnv' },
    );
  }
  return names;
}

function parseLimit(text: string | null): RolloutLimit | null {
  return text === null ? null : rolloutLimitSchema.parse(JSON.parse(text));
}

/** A limit as a node count: at least 1, percentages rounded up. */
export function threshold(limit: RolloutLimit, nodeCount: number): number {
  if ('count' in limit) return Math.max(1, limit.count);
  return Math.max(1, Math.ceil((limit.percent / 100) * nodeCount));
}
