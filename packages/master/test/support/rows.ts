import type { Store } from '../../src/db/store.ts';

/** A running job with one running run on `nodeId`, as the dispatcher leaves them; the node's row is the caller's. */
export async function insertRunningRun(
  store: Store,
  ids: { jobId: string; runId: string; nodeId: string },
  nowMs: number,
): Promise<void> {
  await store.db
    .insertInto('jobs')
    .values({
      job_id: ids.jobId,
      created_at: nowMs,
      created_by: 'admin',
      state: 'running',
      spec: '{}',
      target: '{}',
      concurrency: null,
      max_failures: null,
      deadline_at: nowMs + 60_000,
      node_count: 1,
      finished_at: null,
      stop_reason: null,
    })
    .execute();
  await store.db
    .insertInto('runs')
    .values({
      run_id: ids.runId,
      job_id: ids.jobId,
      node_id: ids.nodeId,
      state: 'running',
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
    })
    .execute();
}
