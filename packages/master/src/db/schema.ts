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
  audit_events: AuditEventsTable;
  scripts: ScriptsTable;
  output_lines: OutputLinesTable;
  schedules: SchedulesTable;
  schedule_fires: ScheduleFiresTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  shell_sessions: ShellSessionsTable;
}

export interface ShellSessionsTable {
  session_id: string;
  node_id: string;
  username: string;
  command: string | null;
  started_at: number;
  ended_at: number | null;
  exit_code: number | null;
  signal: string | null;
  end_reason: string | null;
  /** asciicast v2, written when the session ends. */
  recording: string | null;
  recording_bytes: Generated<number>;
}

export interface UsersTable {
  user_id: string;
  username: string;
  password_hash: string;
  role: string;
  created_at: number;
  disabled_at: number | null;
  last_login_at: number | null;
}

export interface SessionsTable {
  /** SHA-256 of the cookie value: a stolen database holds no usable session. */
  session_hash: string;
  /** The public id (lists and revocation); the hash never leaves the database. */
  session_id: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  ip: string | null;
  user_agent: string | null;
  last_seen_at: number | null;
}

export interface ApiTokensTable {
  token_id: string;
  user_id: string;
  name: string;
  token_hash: string;
  /** The most the token may do; its owner's current role caps it. */
  role: string;
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
  /** Only this node id enrolls with it (again); null: ids not enrolled yet. */
  node_id: string | null;
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
  /** How the job ended (JobOutcome), set with finished_at. */
  outcome: string | null;
  /** JSON node ids: offline targets an online-only job left out; null when none. */
  left_out: string | null;
  script_name: string | null;
  script_version: number | null;
  /** JSON of the params after defaults (library scripts only). */
  params: string | null;
  /** The secret variables as JSON, sealed by SecretEnvBox for this job id; null when none. */
  secret_env: Uint8Array | null;
  /** JSON array of the secret variables' names, for showing the job without opening the values. */
  secret_env_names: string | null;
  /** JSON of the rollout in waves (protocol's rolloutCreateSchema, defaults applied); null: one wave. */
  rollout: string | null;
  /** The last wave released, 1-based; null without waves. */
  wave: number | null;
  /** While a pause between waves runs: when the next wave may start. */
  wave_opens_at: number | null;
  /** The wave whose gate holds the paused job; null when an operator paused it. */
  paused_gate: number | null;
  paused_reason: string | null;
  /** The offline deadline asked for (null for jobs from before waves: deadline_at - created_at). */
  offline_deadline_ms: number | null;
  /** The schedule whose fire made the job (its id and, kept past its deletion, its name). */
  schedule_id: string | null;
  schedule_name: string | null;
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
  /** Chunks below this seq are cut into output_lines. */
  index_seq: Generated<number>;
  /** Lines indexed so far (the next line's number minus one). */
  index_line: Generated<number>;
  index_carry: string | null;
  /** Its wave (1-based) in a rollout in waves; null otherwise. */
  wave: number | null;
}

export interface RunChunksTable {
  run_id: string;
  seq: number;
  stream: string;
  data: Uint8Array;
  created_at: number;
}

export interface AuditEventsTable {
  event_id: string;
  at: number;
  actor: string;
  ip: string | null;
  action: string;
  target: string | null;
  /** JSON object of scalar facts. */
  details: string;
}

export interface ScriptsTable {
  name: string;
  version: number;
  interpreter: string;
  body: string;
  description: string;
  /** JSON array of parameter definitions. */
  parameters: string;
  timeout_ms: number;
  created_at: number;
  created_by: string;
}

export interface OutputLinesTable {
  line_id: Generated<number>;
  run_id: string;
  /** The chunk the line starts in. */
  seq: number;
  line_no: number;
  stream: string;
  line: string;
  created_at: number;
}

export interface SchedulesTable {
  schedule_id: string;
  name: string;
  description: string;
  cron: string;
  timezone: string;
  /** JSON of the job as POST /api/v1/jobs takes it. */
  job: string;
  overlap: string;
  missed: string;
  jitter_ms: number;
  start_at: number | null;
  end_at: number | null;
  paused: number;
  /** The next cron time to fire (jitter not added); null when none is left. */
  next_fire_at: number | null;
  /** A cron time waiting for the running job to end (overlap `queue`). */
  queued_fire_at: number | null;
  created_at: number;
  created_by: string;
  updated_at: number;
}

export interface ScheduleFiresTable {
  fire_id: string;
  schedule_id: string;
  scheduled_at: number;
  fired_at: number;
  trigger: string;
  outcome: string;
  reason: string | null;
  job_id: string | null;
  actor: string;
}

export interface WebhooksTable {
  webhook_id: string;
  url: string;
  /** JSON array of event names. */
  events: string;
  description: string;
  /** The signing secret, sealed under the master secret. */
  secret: string;
  created_at: number;
  created_by: string;
}

export interface WebhookDeliveriesTable {
  delivery_id: string;
  webhook_id: string;
  event: string;
  event_key: string | null;
  body: string;
  state: string;
  created_at: number;
  next_attempt_at: number | null;
  lease_until: number | null;
  attempt_count: number;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  at: number;
  duration_ms: number;
  status: number | null;
  error: string | null;
}
