import {
  SECRET_MASK,
  envKeySchema,
  rolloutLimitSchema,
  runSpecSchema,
  runStateSchema,
  scriptParamsSchema,
  targetSchema,
  jobOutcomeSchema,
  jobStateSchema,
  nodeIdSchema,
  outputStreamSchema,
  isTerminalRunState,
  type ChunkDto,
  type JobDto,
  type RolloutDto,
  type RunDto,
  type RunState,
} from '@edgestelle/protocol';
import type { Selectable } from 'kysely';
import type { z } from 'zod';
import type { JobsTable, RunChunksTable, RunsTable } from '../db/schema.ts';

/**
 * Rows to API DTOs. JSON columns are parsed by their schemas on the way out too: the database
 * is an edge like any other.
 */

function json<T>(schema: z.ZodType<T>, text: string): T {
  return schema.parse(JSON.parse(text));
}

const secretNamesSchema = envKeySchema.array();
const nodeIdListSchema = nodeIdSchema.array();

/** From the names alone: showing a job never opens its secret values. */
function maskedSecretEnv(names: string | null): JobDto['secretEnv'] {
  const masked: JobDto['secretEnv'] = {};
  for (const name of names === null ? [] : json(secretNamesSchema, names)) masked[name] = SECRET_MASK;
  return masked;
}

export function runState(value: string): RunState {
  return runStateSchema.parse(value);
}

export function runDto(row: Selectable<RunsTable>): RunDto {
  const state = runState(row.state);
  return {
    runId: row.run_id,
    jobId: row.job_id,
    nodeId: row.node_id,
    state,
    exitCode: row.exit_code,
    signal: row.signal,
    reason: row.reason,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outputBytes: row.output_bytes,
    outputTruncated: row.output_truncated === 1,
    chunkCount: row.next_seq,
    complete: isRunComplete(row),
    wave: row.wave,
  };
}

/** Terminal, and every chunk its exit announced is stored (a run that never exited has nothing to wait for). */
export function isRunComplete(row: Pick<Selectable<RunsTable>, 'state' | 'exited_seq' | 'next_seq'>): boolean {
  return isTerminalRunState(runState(row.state)) && (row.exited_seq === null || row.next_seq >= row.exited_seq);
}

export function jobDto(
  row: Selectable<JobsTable>,
  counts: Record<RunState, number>,
  rollout: RolloutDto | null,
): JobDto {
  return {
    jobId: row.job_id,
    createdAt: row.created_at,
    createdBy: row.created_by,
    state: jobStateSchema.parse(row.state),
    spec: json(runSpecSchema, row.spec),
    script:
      row.script_name === null || row.script_version === null
        ? null
        : { name: row.script_name, version: row.script_version },
    params: row.params === null ? {} : json(scriptParamsSchema, row.params),
    secretEnv: maskedSecretEnv(row.secret_env_names),
    target: json(targetSchema, row.target),
    concurrency: row.concurrency === null ? null : json(rolloutLimitSchema, row.concurrency),
    maxFailures: row.max_failures === null ? null : json(rolloutLimitSchema, row.max_failures),
    deadlineAt: row.deadline_at,
    nodeCount: row.node_count,
    leftOutNodeIds: row.left_out === null ? [] : json(nodeIdListSchema, row.left_out),
    counts,
    finishedAt: row.finished_at,
    pausedReason: row.state === 'paused' ? row.paused_reason : null,
    rollout,
    outcome: row.outcome === null ? null : jobOutcomeSchema.parse(row.outcome),
  };
}

export function chunkDto(row: Pick<Selectable<RunChunksTable>, 'run_id' | 'seq' | 'stream' | 'data'>): ChunkDto {
  return {
    runId: row.run_id,
    seq: row.seq,
    stream: outputStreamSchema.parse(row.stream),
    data: Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength).toString('base64'),
  };
}
