import * as z from 'zod';
import { limits } from './limits.ts';
import {
  envKeySchema,
  envSchema,
  epochMsSchema,
  idSchema,
  interpreterSchema,
  nodeFactsSchema,
  nodeIdSchema,
  outputStreamSchema,
  runSpecSchema,
  seqSchema,
  tagKeySchema,
  tagsSchema,
} from './messages.ts';
import { rolloutCreateSchema, rolloutDtoSchema } from './rollout.ts';

/**
 * The master's REST and live-hub contract (`/api/v1`, `/api/v1/live`): request and response
 * bodies shared by the master (which validates and documents them), the CLI and the console
 * (which read them). Responses are parsed by these schemas on the client side too. The error
 * body (api-error.ts) and enrolment (enrollment.ts) are apart: the agent needs only those.
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
  'not_started',
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
  'not_started',
];
export function isTerminalRunState(state: RunState): boolean {
  return terminalRunStates.includes(state);
}

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

/** Usernames go into audit events and job records: short, printable, no spaces. */
export const usernameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, 'use letters, digits and . _ @ - (up to 128, no spaces)');
/** New passwords; logins accept any stored password. */
export const newPasswordSchema = z.string().min(10, 'use at least 10 characters').max(1024);

/** A user as admins manage it (`/api/v1/users`). Disabled users cannot sign in; their sessions and tokens stop working. */
export const userAccountDtoSchema = userDtoSchema.extend({
  createdAt: epochMsSchema,
  disabledAt: epochMsSchema.nullable(),
  lastLoginAt: epochMsSchema.nullable(),
});
export type UserAccountDto = z.infer<typeof userAccountDtoSchema>;

export const userCreateSchema = z
  .object({ username: usernameSchema, password: newPasswordSchema, role: roleSchema })
  .strict();
export type UserCreate = z.infer<typeof userCreateSchema>;

/** Give at least one field. Demoting or disabling the last enabled admin is refused (409). */
export const userUpdateSchema = z
  .object({ role: roleSchema.optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((u) => u.role !== undefined || u.disabled !== undefined, { message: 'give role or disabled' });
export type UserUpdate = z.infer<typeof userUpdateSchema>;

/** An admin sets another user's password; that user's sessions end. */
export const passwordResetSchema = z.object({ password: newPasswordSchema }).strict();
export type PasswordReset = z.infer<typeof passwordResetSchema>;

/** A user changes their own password; their other sessions end. */
export const passwordChangeSchema = z
  .object({ currentPassword: z.string().min(1).max(1024), newPassword: newPasswordSchema })
  .strict();
export type PasswordChange = z.infer<typeof passwordChangeSchema>;

/** A console session (`/api/v1/sessions`). The cookie itself is never shown again. */
export const sessionInfoDtoSchema = z.object({
  sessionId: idSchema,
  userId: idSchema,
  username: z.string(),
  createdAt: epochMsSchema,
  expiresAt: epochMsSchema,
  lastSeenAt: epochMsSchema.nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  /** The session this request came with. */
  current: z.boolean(),
});
export type SessionInfoDto = z.infer<typeof sessionInfoDtoSchema>;

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
    /**
     * What the token may do; the owner's role if absent. Never more than the owner's role, now or
     * later: a token of a user who is demoted or disabled is limited or stopped at once.
     */
    role: roleSchema.optional(),
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
  /** The role the token was created with (the owner's current role caps it). */
  role: roleSchema,
  userId: idSchema,
  username: z.string(),
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

// ---- query helpers ------------------------------------------------------------------------

/** A time in a query string: epoch milliseconds or an ISO 8601 date/time (`2026-11-24T10:00:00Z`). */
export const queryTimeSchema = z.union([
  z.coerce.number().int().min(0),
  z.iso.datetime({ offset: true }).transform((v) => Date.parse(v)),
  z.iso.date().transform((v) => Date.parse(v)),
]);

/** A comma-separated list in a query string (`state=failed,timed_out`). */
function csv<T extends z.ZodType<unknown, string>>(item: T) {
  return z
    .string()
    .max(1024)
    .transform((v) => v.split(',').filter((part) => part !== ''))
    .pipe(z.array(item).min(1));
}

const cursorSchema = z.string().min(1).max(256);
const limitSchema = z.coerce.number().int().min(1).max(200).default(50);

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

/**
 * Admin-set tags replace the node's tags from enrollment; the agent's own tags are merged over them.
 * `setTags` and `removeTags` change single admin tags (after `tags`, if given) in the same
 * transaction, so two admins tagging one node lose nothing; removing a key the admin tags lack
 * changes nothing, removing one only the agent's own config sets is refused (409).
 */
export const nodeUpdateSchema = z
  .object({
    name: z.string().min(1).max(255).optional(),
    tags: tagsSchema.optional(),
    setTags: tagsSchema.optional(),
    removeTags: z.array(tagKeySchema).max(limits.tagsMaxCount).optional(),
  })
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
    /**
     * Only this node id may enroll with it, and it may enroll that id again (a new key for a node
     * that is already enrolled, e.g. after its disk was replaced). Null: new node ids only.
     */
    nodeId: nodeIdSchema.nullable().default(null),
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
  /** The one node id it enrolls (again); null: any id that is not enrolled yet. */
  nodeId: nodeIdSchema.nullable(),
});
export type JoinTokenDto = z.infer<typeof joinTokenDtoSchema>;

/** Only the create response carries the secret token, once. */
export const joinTokenCreatedSchema = joinTokenDtoSchema.extend({ token: z.string() });
export type JoinTokenCreated = z.infer<typeof joinTokenCreatedSchema>;

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

// ---- script library ----------------------------------------------------------------------

/** Script names appear in URLs and CLI arguments. */
export const scriptNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, 'use lower-case letters, digits and . _ - (up to 128)');

/**
 * A parameter's name; its value reaches the script as the environment variable
 * `PARAM_<NAME in upper case>` (never spliced into the script text).
 */
export const paramNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, 'use lower-case letters, digits and _ (start with a letter, up to 64)');

const paramCommon = {
  name: paramNameSchema,
  description: z.string().max(512).default(''),
  /** A run needs a value: from the job's params, or the default. */
  required: z.boolean().default(false),
};
export const scriptParameterSchema = z.discriminatedUnion('type', [
  z
    .object({
      ...paramCommon,
      type: z.literal('string'),
      default: z.string().max(limits.envValueMaxChars).optional(),
      /** A JavaScript regular expression the whole value must match. */
      pattern: z.string().max(512).optional(),
      maxLength: z.number().int().min(1).max(limits.envValueMaxChars).optional(),
    })
    .strict(),
  z
    .object({
      ...paramCommon,
      type: z.literal('number'),
      default: z.number().optional(),
      min: z.number().optional(),
      max: z.number().optional(),
      integer: z.boolean().default(false),
    })
    .strict(),
  z.object({ ...paramCommon, type: z.literal('boolean'), default: z.boolean().optional() }).strict(),
  z
    .object({
      ...paramCommon,
      type: z.literal('choice'),
      choices: z.array(z.string().min(1).max(256)).min(1).max(256),
      default: z.string().max(256).optional(),
    })
    .strict(),
]);
export type ScriptParameter = z.infer<typeof scriptParameterSchema>;
export type ScriptParameterInput = z.input<typeof scriptParameterSchema>;

/** Values for a library script's parameters, by name. Environment values: `true`/`false`, numbers as written. */
export const scriptParamsSchema = z.record(paramNameSchema, z.union([z.string(), z.number(), z.boolean()]));
export type ScriptParams = z.infer<typeof scriptParamsSchema>;

/** `PUT /api/v1/scripts/{name}`: saves a new version (versions are kept; the newest is what a job runs by default). */
export const scriptSaveSchema = z
  .object({
    interpreter: interpreterSchema,
    body: z
      .string()
      .max(limits.scriptMaxChars)
      .refine((v) => !v.includes('\0'), 'must not contain NUL'),
    description: z.string().max(2048).default(''),
    parameters: z
      .array(scriptParameterSchema)
      .max(64)
      .default([])
      .refine((ps) => new Set(ps.map((p) => p.name)).size === ps.length, 'parameter names must be unique'),
    /** A run's timeout unless the job gives one. */
    timeoutMs: z.number().int().min(1).max(limits.timeoutMaxMs).default(3_600_000),
  })
  .strict();
export type ScriptSave = z.input<typeof scriptSaveSchema>;

export const scriptDtoSchema = z.object({
  name: scriptNameSchema,
  /** 1 for the first save, one more for each save after it. */
  version: z.number().int().min(1),
  latestVersion: z.number().int().min(1),
  interpreter: interpreterSchema,
  body: z.string(),
  description: z.string(),
  parameters: z.array(scriptParameterSchema),
  timeoutMs: z.number().int(),
  createdAt: epochMsSchema,
  createdBy: z.string(),
});
export type ScriptDto = z.infer<typeof scriptDtoSchema>;

/** A line of the script list: the newest version, without its body. */
export const scriptSummaryDtoSchema = scriptDtoSchema.omit({ body: true, version: true });
export type ScriptSummaryDto = z.infer<typeof scriptSummaryDtoSchema>;

export const scriptVersionDtoSchema = z.object({
  name: scriptNameSchema,
  version: z.number().int().min(1),
  description: z.string(),
  createdAt: epochMsSchema,
  createdBy: z.string(),
});
export type ScriptVersionDto = z.infer<typeof scriptVersionDtoSchema>;

export const scriptListQuerySchema = z
  .object({
    /** Part of the name or description, case-insensitive. */
    q: z.string().max(256).optional(),
    cursor: cursorSchema.optional(),
    limit: limitSchema,
  })
  .strict();
export type ScriptListQuery = z.input<typeof scriptListQuerySchema>;

/** The exact script version a job ran. */
export const scriptRefSchema = z.object({ name: scriptNameSchema, version: z.number().int().min(1) });
export type ScriptRef = z.infer<typeof scriptRefSchema>;

// ---- jobs and runs (continued) ------------------------------------------------------------

/**
 * A job runs either an inline `spec` or a library `script` (the newest version unless
 * `version` is given) with `params`; `timeoutMs` overrides the script's own timeout. The
 * parameters are checked before anything is stored or sent.
 */
export const jobCreateSchema = z
  .object({
    target: targetSchema,
    spec: runSpecSchema.optional(),
    script: z
      .object({ name: scriptNameSchema, version: z.number().int().min(1).optional() })
      .strict()
      .optional(),
    params: scriptParamsSchema.optional(),
    /**
     * Environment variables whose values are secret (passwords, tokens), for a spec or a library
     * script alike. The master stores them sealed, puts them only into each node's sealed run
     * command, and shows every value as `***` (JobDto.secretEnv), to admins too. A name may not
     * also be in the spec's `env` (or be a script's `PARAM_*`); both count toward the same
     * limit of variables.
     */
    secretEnv: envSchema.optional(),
    timeoutMs: z.number().int().min(1).max(limits.timeoutMaxMs).optional(),
    /** How many nodes run at once (like Salt's --batch, SSM's MaxConcurrency); all at once if absent. */
    concurrency: rolloutLimitSchema.optional(),
    /** Stop starting new nodes once this many runs failed (SSM's MaxErrors); never stop if absent. */
    maxFailures: rolloutLimitSchema.optional(),
    /**
     * Run only on the targets online now: offline ones are left out (named in
     * JobDto.leftOutNodeIds) and get no run. `offlineDeadlineMs: 0` means the same (with the
     * default deadline for delivering to the nodes that are online). No target online: 400.
     */
    onlineOnly: z.boolean().optional(),
    /** How long a run may wait for an offline node before it expires, in ms. Default 10 minutes; 0 is onlineOnly. */
    offlineDeadlineMs: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400_000)
      .default(limits.offlineDeadlineDefaultMs),
    /** Start the nodes in waves with a gate between them (docs/API.md "Rollouts in waves"); one wave of all if absent. */
    rollout: rolloutCreateSchema.optional(),
  })
  .strict()
  .refine((job) => (job.spec === undefined) !== (job.script === undefined), {
    message: 'give exactly one of spec and script',
  })
  .refine((job) => job.script !== undefined || (job.params === undefined && job.timeoutMs === undefined), {
    message: 'params and timeoutMs go with a library script',
  });
export type JobCreate = z.input<typeof jobCreateSchema>;

/** What every client is shown in place of a secret value. */
export const SECRET_MASK = '***';

/** `paused`: starts no run until resumed (an operator's pause, or a rollout held at its gate). */
export const jobStates = ['running', 'paused', 'finished', 'cancelled', 'stopped'] as const;
export const jobStateSchema = z.enum(jobStates);
export type JobState = z.infer<typeof jobStateSchema>;

export const runCountsSchema = z.record(runStateSchema, z.number().int().min(0));

/**
 * How a job ended, set in the transaction that finishes it (null while it is active):
 * `succeeded` every run succeeded; `cancelled` the job (or every run) was cancelled; `failed`
 * no run succeeded; `partial` some did and some did not.
 */
export const jobOutcomes = ['succeeded', 'failed', 'partial', 'cancelled'] as const;
export const jobOutcomeSchema = z.enum(jobOutcomes);
export type JobOutcome = z.infer<typeof jobOutcomeSchema>;

export const jobDtoSchema = z.object({
  jobId: idSchema,
  createdAt: epochMsSchema,
  createdBy: z.string(),
  state: jobStateSchema,
  /** What every run executes; for a library script, its body with the params in `env` as `PARAM_*`. */
  spec: runSpecSchema,
  /** The library script and exact version, or null for an inline spec. */
  script: scriptRefSchema.nullable(),
  params: scriptParamsSchema,
  /** The names of the job's secret variables, each value shown as `***`; `{}` when none. */
  secretEnv: z.record(envKeySchema, z.literal(SECRET_MASK)),
  target: targetSchema,
  concurrency: rolloutLimitSchema.nullable(),
  maxFailures: rolloutLimitSchema.nullable(),
  deadlineAt: epochMsSchema,
  nodeCount: z.number().int().min(0),
  /** Targets that were offline when an onlineOnly job was created, so got no run; `[]` otherwise. */
  leftOutNodeIds: z.array(nodeIdSchema),
  counts: runCountsSchema,
  finishedAt: epochMsSchema.nullable(),
  /** Why the job is paused (who paused it, or which gate holds it); null unless paused. */
  pausedReason: z.string().nullable(),
  /** The waves and where the job stands; null for a job started all in one wave. */
  rollout: rolloutDtoSchema.nullable(),
  outcome: jobOutcomeSchema.nullable(),
  /** The schedule whose fire made the job, by name; null for a job started by hand. */
  schedule: z.string().nullable(),
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
  /** Its wave (1-based) in a rollout in waves; null otherwise. */
  wave: z.number().int().min(1).nullable(),
});
export type RunDto = z.infer<typeof runDtoSchema>;

/** A run in a history list, with what its job ran and who started it. */
export const runSummaryDtoSchema = runDtoSchema.extend({
  createdBy: z.string(),
  /** The command, or the script's name (`name@version`), or `inline <interpreter> script`. */
  title: z.string(),
  script: scriptRefSchema.nullable(),
});
export type RunSummaryDto = z.infer<typeof runSummaryDtoSchema>;

/** `GET /api/v1/jobs` filters. Times bound `createdAt` (`from` inclusive, `to` exclusive). */
export const jobListQuerySchema = z
  .object({
    state: csv(jobStateSchema).optional(),
    outcome: csv(jobOutcomeSchema).optional(),
    createdBy: z.string().max(128).optional(),
    /** Jobs with a run on this node. */
    nodeId: nodeIdSchema.optional(),
    scriptName: scriptNameSchema.optional(),
    /** Jobs made by this schedule (by name). */
    schedule: z.string().max(64).optional(),
    from: queryTimeSchema.optional(),
    to: queryTimeSchema.optional(),
    cursor: cursorSchema.optional(),
    limit: limitSchema,
  })
  .strict();
export type JobListQuery = z.input<typeof jobListQuerySchema>;

/** `GET /api/v1/runs` filters. Times bound the run's `createdAt`. */
export const runListQuerySchema = z
  .object({
    nodeId: nodeIdSchema.optional(),
    jobId: idSchema.optional(),
    state: csv(runStateSchema).optional(),
    createdBy: z.string().max(128).optional(),
    scriptName: scriptNameSchema.optional(),
    from: queryTimeSchema.optional(),
    to: queryTimeSchema.optional(),
    cursor: cursorSchema.optional(),
    limit: limitSchema,
  })
  .strict();
export type RunListQuery = z.input<typeof runListQuerySchema>;

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

/**
 * A filtered history page: `counts` are over every item matching the filters except `state`
 * (and a job's `outcome`), so a console can show "failed 3 · succeeded 40" beside the state
 * filter, every state a key.
 */
export const jobHistoryPageSchema = pageSchema(jobDtoSchema).extend({
  counts: z.record(jobStateSchema, z.number().int().min(0)),
});
export type JobHistoryPage = z.infer<typeof jobHistoryPageSchema>;
export const runHistoryPageSchema = pageSchema(runSummaryDtoSchema).extend({ counts: runCountsSchema });
export type RunHistoryPage = z.infer<typeof runHistoryPageSchema>;

// ---- log search ----------------------------------------------------------------------------

/**
 * `GET /api/v1/search`. `q` matches output lines containing every word of it (split on
 * spaces; `"quoted phrase"` keeps spaces) as a substring, case-insensitive; each word needs
 * 3 or more characters that are not spaces or control characters, and none may hold NUL
 * (`parseSearchWords`). The other filters narrow by run; `user` is who started the job.
 * Hits come newest run first, then in line order.
 */
export const searchQuerySchema = z
  .object({
    q: z.string().min(3).max(256),
    nodeId: nodeIdSchema.optional(),
    jobId: idSchema.optional(),
    scriptName: scriptNameSchema.optional(),
    user: z.string().max(128).optional(),
    state: csv(runStateSchema).optional(),
    from: queryTimeSchema.optional(),
    to: queryTimeSchema.optional(),
    cursor: cursorSchema.optional(),
    limit: limitSchema,
  })
  .strict();
export type SearchQuery = z.input<typeof searchQuerySchema>;

export const searchHitSchema = z.object({
  runId: idSchema,
  jobId: idSchema,
  nodeId: nodeIdSchema,
  /** The chunk the line starts in: open the run from this seq to show the line. */
  seq: seqSchema,
  stream: outputStreamSchema,
  /** 1-based line number within the run's output (both streams, in seq order). */
  lineNo: z.number().int().min(1),
  /**
   * The line as text (UTF-8, invalid bytes replaced, ANSI escapes kept), at most 2000 UTF-16
   * units: a longer line is cut to the part around its first match.
   */
  line: z.string(),
  /** Where `line` starts in the indexed line (UTF-16 offset): 0 unless its start was cut. */
  lineStart: z.number().int().min(0),
  /** The indexed line's length (UTF-16 units): more than lineStart + line.length if its end was cut. */
  lineLength: z.number().int().min(0),
  /** Where the words of q are in `line`: UTF-16 offsets, end exclusive, in order, not overlapping. */
  highlights: z.array(z.object({ start: z.number().int().min(0), end: z.number().int().min(0) })),
  /** When the chunk holding the line was stored. */
  at: epochMsSchema,
  runState: runStateSchema,
  createdBy: z.string(),
  script: scriptRefSchema.nullable(),
});
export type SearchHit = z.infer<typeof searchHitSchema>;
export const searchPageSchema = pageSchema(searchHitSchema);
export type SearchPage = z.infer<typeof searchPageSchema>;

// ---- audit ---------------------------------------------------------------------------------

/** What an audit event records. Every successful change, run, cancel, login and failed login is exactly one event. */
export const auditActions = [
  'auth.login',
  'auth.login_failed',
  'auth.logout',
  'auth.password_change',
  'session.revoke',
  'token.create',
  'token.revoke',
  'user.create',
  'user.update',
  'user.delete',
  'user.password_reset',
  'join_token.create',
  'join_token.revoke',
  'node.enroll',
  'node.enroll_refused',
  'node.update',
  'node.revoke',
  'node.forget',
  'script.save',
  'job.create',
  'job.cancel',
  'job.pause',
  'job.resume',
  'run.cancel',
  'retention.purge',
  'schedule.create',
  'schedule.pause',
  'schedule.resume',
  'schedule.delete',
  'webhook.create',
  'webhook.delete',
  'shell.open',
  'shell.close',
] as const;
export const auditActionSchema = z.enum(auditActions);
export type AuditAction = z.infer<typeof auditActionSchema>;

export const auditEventDtoSchema = z.object({
  eventId: idSchema,
  at: epochMsSchema,
  /** Username, `node:<nodeId>` for an enrollment, `system` for the master itself; for a failed login, the name tried. */
  actor: z.string(),
  /** The caller's address (the socket's peer, or the proxy's X-Forwarded-For when EDGESTELLE_TRUST_PROXY is set). */
  ip: z.string().nullable(),
  action: auditActionSchema,
  /** What it acted on: `user:<userId>`, `job:<jobId>`, `run:<runId>`, `node:<nodeId>`, `script:<name>`, `token:<tokenId>`, `session:<sessionId>`, `join_token:<tokenId>`, `schedule:<name>`, `webhook:<webhookId>`. */
  target: z.string().nullable(),
  /** A few facts about the change (never a secret): e.g. `{ role: 'operator' }`, `{ nodeCount: 3 }`. */
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});
export type AuditEventDto = z.infer<typeof auditEventDtoSchema>;

/** `GET /api/v1/audit` filters (admin). Newest first. `target` matches a prefix (`job:` for all jobs). */
export const auditQuerySchema = z
  .object({
    actor: z.string().max(128).optional(),
    action: csv(auditActionSchema).optional(),
    target: z.string().max(256).optional(),
    from: queryTimeSchema.optional(),
    to: queryTimeSchema.optional(),
    cursor: cursorSchema.optional(),
    limit: limitSchema,
  })
  .strict();
export type AuditQuery = z.input<typeof auditQuerySchema>;
export const auditPageSchema = pageSchema(auditEventDtoSchema);
export type AuditPage = z.infer<typeof auditPageSchema>;

// ---- store and retention (admin) ---------------------------------------------------------

export const retentionResultSchema = z.object({
  startedAt: epochMsSchema,
  finishedAt: epochMsSchema,
  jobsDeleted: z.number().int().min(0),
  runsDeleted: z.number().int().min(0),
  outputBytesDeleted: z.number().int().min(0),
});
export type RetentionResult = z.infer<typeof retentionResultSchema>;

export const storeStatsSchema = z.object({
  dialect: z.enum(['sqlite', 'postgres']),
  /** The database's size on disk (SQLite file + WAL, or pg_database_size). */
  databaseBytes: z.number().int().min(0),
  outputBytes: z.number().int().min(0),
  chunks: z.number().int().min(0),
  runs: z.number().int().min(0),
  jobs: z.number().int().min(0),
  auditEvents: z.number().int().min(0),
  oldestJobAt: epochMsSchema.nullable(),
  retention: z.object({
    /** Finished jobs older than this are deleted with their runs and output; null keeps them. */
    maxAgeDays: z.number().nullable(),
    /** Oldest finished jobs are deleted until stored output is under this; null for no cap. */
    maxOutputBytes: z.number().int().nullable(),
    /** A cron expression (croner), in UTC. */
    schedule: z.string(),
    lastRun: retentionResultSchema.nullable(),
  }),
});
export type StoreStats = z.infer<typeof storeStatsSchema>;

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
