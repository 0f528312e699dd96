import {
  SECRET_MASK,
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
import type { Selectable } from 'kysely';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import type { JobsTable } from '../db/schema.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import type { MasterEvents } from '../events.ts';
import { assertPtyCapable } from '../nodes/pty-capability.ts';
import { parseTags, tagsMatch } from '../nodes/tags.ts';
import { jobDto, runDto, runState } from './dto.ts';
import { slices } from './ingest.ts';
import { activeStates, failureStates, isTerminalRunState, zeroRunCounts } from './run-state.ts';
import type { SecretEnvBox } from './secret-env.ts';

export type JobCreateInput = z.output<typeof jobCreateSchema>;

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

const nonTerminal: readonly RunState[] = ['queued', 'sent', 'accepted', 'running'];

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

  constructor(private readonly options: DispatcherOptions) {
    this.lostRunGraceMs = options.lostRunGraceMs ?? 10 * 60_000;
    this.cancelGraceMs = options.cancelGraceMs ?? 60_000;
  }

  private get db() {
    return this.options.store.db;
  }

  /** Stores the job and its queued runs (and the audit event) in one transaction, then starts what may start. */
  async createJob(input: JobCreateInput, createdBy: string, actor?: Actor): Promise<JobDto> {
    const nowMs = this.options.clock.now();
    const resolved = await this.resolveSpec(input);
    const secretNames = checkSecretEnv(resolved.spec, input.secretEnv ?? {});
    const nodeIds = await this.resolveTargets(input.target);
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
          deadline_at: nowMs + input.offlineDeadlineMs,
          node_count: nodeIds.length,
          finished_at: null,
          stop_reason: null,
        })
        .execute();
      for (const part of slices(nodeIds, 500)) {
        await trx
          .insertInto('runs')
          .values(
            part.map((nodeId) => ({
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
          ...(resolved.script === null ? {} : { script: `${resolved.script.name}@${resolved.script.version}` }),
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

  private async resolveTargets(target: JobCreateInput['target']): Promise<string[]> {
    const live = this.db.selectFrom('nodes').select(['node_id', 'tags']).where('revoked_at', 'is', null);
    let nodeIds: string[];
    if ('nodeIds' in target) {
      const wanted = [...new Set(target.nodeIds)];
      const found = new Set<string>();
      for (const part of slices(wanted, 500)) {
        for (const row of await live.where('node_id', 'in', part).execute()) found.add(row.node_id);
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
      nodeIds = wanted;
    } else if ('tags' in target) {
      nodeIds = (await live.execute()).filter((r) => tagsMatch(parseTags(r.tags), target.tags)).map((r) => r.node_id);
    } else {
      nodeIds = (await live.execute()).map((r) => r.node_id);
    }
    if (nodeIds.length === 0) {
      throw new MasterError(MasterErrorCode.noMatchingNodes, 'the target matches no enrolled node', {
        field: 'target',
      });
    }
    return nodeIds.sort();
  }

  async job(jobId: string): Promise<JobDto> {
    const row = await this.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
    if (row === undefined) throw notFound(`job ${jobId}`);
    return jobDto(row, await this.counts(jobId));
  }

  async counts(jobId: string): Promise<Record<RunState, number>> {
    const rows = await this.db
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
        for (const { run_id } of stopped) this.options.events.emit('run', run_id, jobId);
        changed = true;
      } else if (nowMs < job.deadline_at) {
        const queued = await this.countRuns(jobId, ['queued']);
        const concurrency = parseLimit(job.concurrency);
        const slots =
          queued === 0 || concurrency === null
            ? queued
            : threshold(concurrency, job.node_count) - (await this.countRuns(jobId, activeStates));
        if (slots > 0) changed = (await this.startQueued(job, slots, nowMs)) || changed;
      }
    }
    if (await this.finishIfDone(job, nowMs)) changed = true;
    if (changed) this.options.events.emit('job', jobId);
  }

  /** Sends up to `slots` queued runs whose nodes are online now. */
  private async startQueued(job: Selectable<JobsTable>, slots: number, nowMs: number): Promise<boolean> {
    const ready = await this.db
      .selectFrom('runs')
      .innerJoin('nodes', 'nodes.node_id', 'runs.node_id')
      .select('runs.run_id')
      .where('runs.job_id', '=', job.job_id)
      .where('runs.state', '=', 'queued')
      .where('nodes.online', '=', 1)
      .where('nodes.revoked_at', 'is', null)
      .orderBy('runs.node_id')
      .limit(slots)
      .execute();
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

  private async finishIfDone(job: Selectable<JobsTable>, nowMs: number): Promise<boolean> {
    if (job.finished_at !== null) return false;
    const open = await this.db
      .selectFrom('runs')
      .select('run_id')
      .where('job_id', '=', job.job_id)
      .where('state', 'in', nonTerminal)
      .limit(1)
      .executeTakeFirst();
    if (open !== undefined) return false;
    await this.db
      .updateTable('jobs')
      .set({ state: job.state === 'running' ? 'finished' : job.state, finished_at: nowMs })
      .where('job_id', '=', job.job_id)
      .where('finished_at', 'is', null)
      .execute();
    return true;
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
    await this.db.transaction().execute(async (trx) => {
      const job = await trx
        .selectFrom('jobs')
        .select(['job_id', 'state'])
        .where('job_id', '=', jobId)
        .executeTakeFirst();
      if (job === undefined) throw notFound(`job ${jobId}`);
      await trx
        .updateTable('jobs')
        .set({ state: 'cancelled', stop_reason: 'cancelled' })
        .where('job_id', '=', jobId)
        .where('state', '=', 'running')
        .execute();
      await this.options.audit.record(trx, {
        actor,
        action: 'job.cancel',
        target: `job:${jobId}`,
        details: { state: job.state },
      });
    });
    const open = await this.db
      .selectFrom('runs')
      .select(['run_id', 'node_id', 'state'])
      .where('job_id', '=', jobId)
      .where('state', 'in', nonTerminal)
      .execute();
    for (const run of open) await this.cancelOne(run.run_id, jobId, run.node_id, runState(run.state));
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
      ])
      .where('runs.state', 'in', nonTerminal)
      .execute();
    for (const run of candidates) {
      const state = runState(run.state);
      if (state === 'queued' && run.deadline_at <= nowMs) {
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
