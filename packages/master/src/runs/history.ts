import {
  jobStateSchema,
  runSpecSchema,
  type JobHistoryPage,
  type RunHistoryPage,
  type RunSummaryDto,
  type ScriptRef,
  type jobListQuerySchema,
  type runListQuerySchema,
} from '@edgestelle/protocol';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import { cursorString, decodeCursor, encodeCursor } from '../db/cursor.ts';
import type { Database } from '../db/schema.ts';
import type { Dispatcher } from './dispatcher.ts';
import { runDto, runState } from './dto.ts';
import { zeroRunCounts } from './run-state.ts';

export type JobListQuery = z.output<typeof jobListQuerySchema>;
export type RunListQuery = z.output<typeof runListQuerySchema>;

/**
 * Job and run history: filtered, newest first, cursor-paged (the cursor is the last id, and
 * ids sort by time), with counts by state over the same filters minus the state filter.
 */
export class History {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dispatcher: Dispatcher,
  ) {}

  async jobs(query: JobListQuery): Promise<JobHistoryPage> {
    let base = this.db.selectFrom('jobs');
    if (query.createdBy !== undefined) base = base.where('jobs.created_by', '=', query.createdBy);
    if (query.scriptName !== undefined) base = base.where('jobs.script_name', '=', query.scriptName);
    if (query.from !== undefined) base = base.where('jobs.created_at', '>=', query.from);
    if (query.to !== undefined) base = base.where('jobs.created_at', '<', query.to);
    const nodeId = query.nodeId;
    if (nodeId !== undefined) {
      base = base.where((eb) =>
        eb.exists(
          eb
            .selectFrom('runs')
            .select('runs.run_id')
            .whereRef('runs.job_id', '=', 'jobs.job_id')
            .where('runs.node_id', '=', nodeId),
        ),
      );
    }
    let page = base
      .select('jobs.job_id')
      .orderBy('jobs.job_id', 'desc')
      .limit(query.limit + 1);
    if (query.state !== undefined) page = page.where('jobs.state', 'in', query.state);
    if (query.outcome !== undefined) page = page.where('jobs.outcome', 'in', query.outcome);
    if (query.cursor !== undefined)
      page = page.where('jobs.job_id', '<', cursorString(decodeCursor(query.cursor, 1)[0]));
    const rows = await page.execute();
    const shown = rows.slice(0, query.limit);
    const items = await Promise.all(shown.map((r) => this.dispatcher.job(r.job_id)));
    const countRows = await base
      .select(['jobs.state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('jobs.state')
      .execute();
    const counts: JobHistoryPage['counts'] = { running: 0, paused: 0, finished: 0, cancelled: 0, stopped: 0 };
    for (const row of countRows) counts[jobStateSchema.parse(row.state)] = Number(row.n);
    const last = shown.at(-1);
    return {
      items,
      nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor([last.job_id]) : null,
      counts,
    };
  }

  async runs(query: RunListQuery): Promise<RunHistoryPage> {
    let base = this.db.selectFrom('runs').innerJoin('jobs', 'jobs.job_id', 'runs.job_id');
    if (query.nodeId !== undefined) base = base.where('runs.node_id', '=', query.nodeId);
    if (query.jobId !== undefined) base = base.where('runs.job_id', '=', query.jobId);
    if (query.createdBy !== undefined) base = base.where('jobs.created_by', '=', query.createdBy);
    if (query.scriptName !== undefined) base = base.where('jobs.script_name', '=', query.scriptName);
    if (query.from !== undefined) base = base.where('runs.created_at', '>=', query.from);
    if (query.to !== undefined) base = base.where('runs.created_at', '<', query.to);
    let page = base
      .selectAll('runs')
      .select(['jobs.created_by', 'jobs.spec', 'jobs.script_name', 'jobs.script_version'])
      .orderBy('runs.run_id', 'desc')
      .limit(query.limit + 1);
    if (query.state !== undefined) page = page.where('runs.state', 'in', query.state);
    if (query.cursor !== undefined)
      page = page.where('runs.run_id', '<', cursorString(decodeCursor(query.cursor, 1)[0]));
    const rows = await page.execute();
    const shown = rows.slice(0, query.limit);
    const titles = new Map<string, string>();
    const items: RunSummaryDto[] = shown.map((row) => {
      const script: ScriptRef | null =
        row.script_name === null || row.script_version === null
          ? null
          : { name: row.script_name, version: row.script_version };
      let title = titles.get(row.job_id);
      if (title === undefined) {
        title = jobTitle(row.spec, script);
        titles.set(row.job_id, title);
      }
      return { ...runDto(row), createdBy: row.created_by, title, script };
    });
    const countRows = await base
      .select(['runs.state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('runs.state')
      .execute();
    const counts = zeroRunCounts();
    for (const row of countRows) counts[runState(row.state)] = Number(row.n);
    const last = shown.at(-1);
    return {
      items,
      nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor([last.run_id]) : null,
      counts,
    };
  }
}

/** What a job ran, in one line: the command, the library script, or which inline interpreter. */
export function jobTitle(specJson: string, script: ScriptRef | null): string {
  if (script !== null) return `${script.name}@${script.version}`;
  const spec = runSpecSchema.parse(JSON.parse(specJson));
  if (spec.command !== undefined) return spec.command.length > 200 ? `${spec.command.slice(0, 199)}…` : spec.command;
  return `inline ${spec.script?.interpreter ?? 'sh'} script`;
}
