import { z } from 'zod';
import {
  epochMsSchema,
  idSchema,
  nodeFactsSchema,
  nodeIdSchema,
  outputStreamSchema,
  runSpecSchema,
  seqSchema,
  tagsSchema,
} from './messages.ts';

/**
 * The master's REST and live-hub contract (`/api/v1`, `/api/v1/live`): request and response
 * bodies shared by the master (which validates and documents them), the CLI and the console
 * (which read them). Responses are parsed by these schemas on the client side too.
 */

export const runStates = [
  'queued',
  'sent',
  'accepted',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'interrupted',
  'rejected',
  'expired',
] as const;
export const runStateSchema = z.enum(runStates);
export type RunState = z.infer<typeof runStateSchema>;
export const terminalRunStates: readonly RunState[] = [
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'interrupted',
  'rejected',
  'expired',
];
export function isTerminalRunState(state: RunState): boolean {
  return terminalRunStates.includes(state);
}

export const apiErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  /** The request field at fault, as a dotted path (`spec.timeoutMs`), when there is one. */
  field: z.string().optional(),
});
export type ApiError = z.infer<typeof apiErrorSchema>;

// ---- auth --------------------------------------------------------------------------------

/** Roles, weakest first: viewer reads, operator runs and cancels, admin manages everything. */
export const roles = ['viewer', 'operator', 'admin'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;

export const loginRequestSchema = z
  .object({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) })
  .strict();
export type LoginRequest = z.infer<typeof loginRequestSchema>;

export const userDtoSchema = z.object({ userId: idSchema, username: z.string(), role: roleSchema });
export type UserDto = z.infer<typeof userDtoSchema>;

/**
 * Who the caller is. `csrfToken` is set for cookie sessions: send it back in the
 * `X-CSRF-Token` header on every write (POST/PUT/PATCH/DELETE); bearer tokens need none.
 */
export const sessionDtoSchema = z.object({
  user: userDtoSchema,
  via: z.enum(['session', 'token']),
  csrfToken: z.string().nullable(),
});
export type SessionDto = z.infer<typeof sessionDtoSchema>;

export const apiTokenCreateSchema = z
  .object({
    name: z.string().min(1).max(128),
    /** Seconds until the token stops working; null for no expiry. */
    ttlSec: z
      .number()
      .int()
      .min(60)
      .max(5 * 365 * 86_400)
      .nullable()
      .default(null),
  })
  .strict();
export type ApiTokenCreate = z.input<typeof apiTokenCreateSchema>;

export const apiTokenDtoSchema = z.object({
  tokenId: idSchema,
  name: z.string(),
  createdAt: epochMsSchema,
  expiresAt: epochMsSchema.nullable(),
  lastUsedAt: epochMsSchema.nullable(),
  revokedAt: epochMsSchema.nullable(),
});
export type ApiTokenDto = z.infer<typeof apiTokenDtoSchema>;

/** Only the create response carries the secret (`Authorization: Bearer <token>`), once. */
export const apiTokenCreatedSchema = apiTokenDtoSchema.extend({ token: z.string() });
export type ApiTokenCreated = z.infer<typeof apiTokenCreatedSchema>;

// ---- health -------------------------------------------------------------------------------

export const readinessSchema = z.object({ ready: z.boolean(), database: z.boolean(), broker: z.boolean() });
export type Readiness = z.infer<typeof readinessSchema>;

// ---- nodes --------------------------------------------------------------------------------

export const nodeDtoSchema = z.object({
  nodeId: nodeIdSchema,
  name: z.string(),
  online: z.boolean(),
  tags: tagsSchema,
  facts: nodeFactsSchema.nullable(),
  lastSeenAt: epochMsSchema.nullable(),
  enrolledAt: epochMsSchema,
  revokedAt: epochMsSchema.nullable(),
});
export type NodeDto = z.infer<typeof nodeDtoSchema>;

/** Admin-set tags replace the node's tags from enrollment; the agent's own tags are merged over them. */
export const nodeUpdateSchema = z
  .object({ name: z.string().min(1).max(255).optional(), tags: tagsSchema.optional() })
  .strict();
export type NodeUpdate = z.infer<typeof nodeUpdateSchema>;

export const tagDtoSchema = z.object({ key: z.string(), value: z.string(), nodeCount: z.number().int().min(0) });
export type TagDto = z.infer<typeof tagDtoSchema>;

// ---- enrollment ---------------------------------------------------------------------------

export const joinTokenCreateSchema = z
  .object({
    /** Seconds until the token stops working. */
    ttlSec: z
      .number()
      .int()
      .min(60)
      .max(365 * 86_400)
      .default(86_400),
    /** How many nodes may enroll with it; null for any number until it expires. */
    maxUses: z.number().int().min(1).max(100_000).nullable().default(1),
    tags: tagsSchema.default({}),
    description: z.string().max(256).default(''),
  })
  .strict();
export type JoinTokenCreate = z.input<typeof joinTokenCreateSchema>;

export const joinTokenDtoSchema = z.object({
  tokenId: idSchema,
  description: z.string(),
  tags: tagsSchema,
  createdAt: epochMsSchema,
  expiresAt: epochMsSchema,
  maxUses: z.number().int().nullable(),
  uses: z.number().int(),
  revokedAt: epochMsSchema.nullable(),
});
export type JoinTokenDto = z.infer<typeof joinTokenDtoSchema>;

/** Only the create response carries the secret token, once. */
export const joinTokenCreatedSchema = joinTokenDtoSchema.extend({ token: z.string() });
export type JoinTokenCreated = z.infer<typeof joinTokenCreatedSchema>;

export const enrollRequestSchema = z
  .object({
    token: z.string().min(1).max(256),
    /** The node's own id (made on its first start); the master refuses one that is taken by another node. */
    nodeId: nodeIdSchema,
    name: z.string().min(1).max(255),
  })
  .strict();
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;

export const enrollResponseSchema = z.object({
  nodeId: nodeIdSchema,
  keyId: z.number().int().min(0).max(0xffffffff),
  /** The node's AES-256 key, base64. */
  nodeKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  topicPrefix: z.string(),
  mqtt: z.object({
    /** Where the agent connects; may differ from how the master reaches its broker. */
    url: z.string(),
    username: z.string(),
    password: z.string(),
  }),
  tags: tagsSchema,
});
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;

// ---- jobs and runs ------------------------------------------------------------------------

/** Exactly one way of choosing nodes. Tags match all-of. */
export const targetSchema = z.union([
  z.object({ nodeIds: z.array(nodeIdSchema).min(1).max(100_000) }).strict(),
  z.object({ tags: tagsSchema.refine((t) => Object.keys(t).length > 0, 'give at least one tag') }).strict(),
  z.object({ all: z.literal(true) }).strict(),
]);
export type Target = z.infer<typeof targetSchema>;

/** A rollout limit: a number of nodes, or a percentage of the job's nodes (rounded up, at least 1). */
export const rolloutLimitSchema = z.union([
  z.object({ count: z.number().int().min(0).max(1_000_000) }).strict(),
  z.object({ percent: z.number().min(0).max(100) }).strict(),
]);
export type RolloutLimit = z.infer<typeof rolloutLimitSchema>;

export const jobCreateSchema = z
  .object({
    target: targetSchema,
    spec: runSpecSchema,
    /** How many nodes run at once (like Salt's --batch, SSM's MaxConcurrency); all at once if absent. */
    concurrency: rolloutLimitSchema.optional(),
    /** Stop starting new nodes once this many runs failed (SSM's MaxErrors); never stop if absent. */
    maxFailures: rolloutLimitSchema.optional(),
    /** How long a run may wait for an offline node before it expires, in ms. Default 10 minutes. */
    offlineDeadlineMs: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400_000)
      .default(600_000),
  })
  .strict();
export type JobCreate = z.input<typeof jobCreateSchema>;

export const jobStates = ['running', 'finished', 'cancelled', 'stopped'] as const;
export const jobStateSchema = z.enum(jobStates);

export const runCountsSchema = z.record(runStateSchema, z.number().int().min(0));

export const jobDtoSchema = z.object({
  jobId: idSchema,
  createdAt: epochMsSchema,
  createdBy: z.string(),
  state: jobStateSchema,
  spec: runSpecSchema,
  target: targetSchema,
  concurrency: rolloutLimitSchema.nullable(),
  maxFailures: rolloutLimitSchema.nullable(),
  deadlineAt: epochMsSchema,
  nodeCount: z.number().int().min(0),
  counts: runCountsSchema,
  finishedAt: epochMsSchema.nullable(),
});
export type JobDto = z.infer<typeof jobDtoSchema>;

export const runDtoSchema = z.object({
  runId: idSchema,
  jobId: idSchema,
  nodeId: nodeIdSchema,
  state: runStateSchema,
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  reason: z.string().nullable(),
  createdAt: epochMsSchema,
  startedAt: epochMsSchema.nullable(),
  endedAt: epochMsSchema.nullable(),
  outputBytes: z.number().int().min(0),
  outputTruncated: z.boolean(),
  /** Chunks stored so far without a gap (seq 0..chunkCount-1). */
  chunkCount: z.number().int().min(0),
  /** The run is terminal and every one of its chunks is stored. */
  complete: z.boolean(),
});
export type RunDto = z.infer<typeof runDtoSchema>;

export const chunkDtoSchema = z.object({
  runId: idSchema,
  seq: seqSchema,
  stream: outputStreamSchema,
  /** The chunk's bytes, base64. */
  data: z.string(),
});
export type ChunkDto = z.infer<typeof chunkDtoSchema>;

export const outputPageSchema = z.object({
  chunks: z.array(chunkDtoSchema),
  /** Ask for this seq next; equals the run's chunk count once everything is stored. */
  nextSeq: seqSchema,
  /** The run is terminal and every chunk up to nextSeq is stored. */
  complete: z.boolean(),
});
export type OutputPage = z.infer<typeof outputPageSchema>;

/** Cursor pages: pass `nextCursor` back as `cursor` for the next page; null at the end. */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

// ---- live hub (`GET /api/v1/live`, WebSocket, JSON text frames) -----------------------------

// A plain union: zod 4 refuses a discriminated union with the same `type` value ('subscribe') twice.
export const liveClientMessageSchema = z.union([
  z.object({ type: z.literal('subscribe'), topic: z.literal('nodes') }).strict(),
  z.object({ type: z.literal('subscribe'), topic: z.literal('job'), jobId: idSchema }).strict(),
  z
    .object({ type: z.literal('subscribe'), topic: z.literal('run'), runId: idSchema, fromSeq: seqSchema.default(0) })
    .strict(),
  z
    .object({
      type: z.literal('unsubscribe'),
      topic: z.enum(['nodes', 'job', 'run']),
      id: z.string().max(64).optional(),
    })
    .strict(),
]);
export type LiveClientMessage = z.input<typeof liveClientMessageSchema>;

export const liveServerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('node'), node: nodeDtoSchema }),
  z.object({ type: z.literal('job'), job: jobDtoSchema }),
  z.object({ type: z.literal('run'), run: runDtoSchema }),
  z.object({ type: z.literal('chunk'), chunk: chunkDtoSchema }),
  /** Sent after the stored chunks of a run subscription were replayed; live chunks follow. */
  z.object({ type: z.literal('replayed'), runId: idSchema, nextSeq: seqSchema }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);

/**
 * Close codes of the live hub beyond the standard ones. A client closed as too slow lost
 * nothing: it reconnects and subscribes again from the last seq it rendered.
 */
export const liveCloseCodes = {
  unauthenticated: 4401,
  forbiddenOrigin: 4403,
  tooSlow: 4408,
  shuttingDown: 4503,
} as const;
export type LiveServerMessage = z.infer<typeof liveServerMessageSchema>;
