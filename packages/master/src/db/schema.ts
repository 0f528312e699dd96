import type { Generated } from 'kysely';

/**
 * Table types for kysely. Times are epoch milliseconds (UTC) in BIGINT columns; booleans are
 * 0/1 integers and JSON is text, so SQLite and PostgreSQL hold the same values.
 */
export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  join_tokens: JoinTokensTable;
  nodes: NodesTable;
  jobs: JobsTable;
  runs: RunsTable;
  run_chunks: RunChunksTable;
}

export interface UsersTable {
  user_id: string;
  username: string;
  password_hash: string;
  role: string;
  created_at: number;
}

export interface SessionsTable {
  /** SHA-256 of the cookie value: a stolen database holds no usable session. */
  session_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

export interface ApiTokensTable {
  token_id: string;
  user_id: string;
  name: string;
  token_hash: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface JoinTokensTable {
  token_id: string;
  token_hash: string;
  description: string;
  tags: string;
  created_at: number;
  expires_at: number;
  max_uses: number | null;
  uses: number;
  revoked_at: number | null;
  created_by: string;
}

export interface NodesTable {
  node_id: string;
  name: string;
  key_epoch: number;
  mqtt_password_hash: string;
  /** Tags from the join token, or as an admin set them. */
  base_tags: string;
  /** base_tags with the agent's own reported tags merged over them: what targeting matches. */
  tags: string;
  facts: string | null;
  online: number;
  connection_seq: number;
  beat: number;
  last_seen_at: number | null;
  enrolled_at: number;
  revoked_at: number | null;
}

export interface JobsTable {
  job_id: string;
  created_at: number;
  created_by: string;
  state: string;
  spec: string;
  target: string;
  concurrency: string | null;
  max_failures: string | null;
  deadline_at: number;
  node_count: number;
  finished_at: number | null;
  stop_reason: string | null;
}

export interface RunsTable {
  run_id: string;
  job_id: string;
  node_id: string;
  state: string;
  exit_code: number | null;
  signal: string | null;
  reason: string | null;
  created_at: number;
  sent_at: number | null;
  started_at: number | null;
  ended_at: number | null;
  output_bytes: Generated<number>;
  output_truncated: Generated<number>;
  /** Chunks 0..next_seq-1 are all stored: the contiguous prefix, computed from committed rows. */
  next_seq: Generated<number>;
  /** The chunk count from the agent's `exited`, once it arrived. */
  exited_seq: number | null;
  cancel_requested_at: number | null;
  updated_at: number;
}

export interface RunChunksTable {
  run_id: string;
  seq: number;
  stream: string;
  data: Uint8Array;
  created_at: number;
}
