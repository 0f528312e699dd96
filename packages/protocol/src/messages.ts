import * as z from 'zod';
import { ID_PATTERN } from './ids.ts';
import { limits } from './limits.ts';
import { NODE_ID_PATTERN } from './topics.ts';

/**
 * Every message of protocol v1, by channel. These schemas are the edge: a receiver never
 * trusts a field that did not pass through one of them, and every field has a bound.
 */

const noNul = (s: string): boolean => !s.includes('\0');

export const idSchema = z.string().regex(ID_PATTERN, 'must be a 26-character EdgeStelle id');
export const nodeIdSchema = z
  .string()
  .regex(NODE_ID_PATTERN, "must be 1-64 characters of a-z, 0-9 and '-', not starting with '-'");
/** Milliseconds since the Unix epoch, UTC. */
export const epochMsSchema = z.number().int().min(0).max(8.64e15);
export const seqSchema = z.number().int().min(0).max(limits.seqMax);

export const tagKeySchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, "tag keys are 1-63 characters of a-z, 0-9, '_', '.', '-'");
const tagValueSchema = z.string().max(limits.tagValueMaxChars).refine(noNul, 'must not contain NUL');
export const tagsSchema = z
  .record(tagKeySchema, tagValueSchema)
  .refine((tags) => Object.keys(tags).length <= limits.tagsMaxCount, {
    message: `at most ${limits.tagsMaxCount} tags`,
  });

const argSchema = z.string().max(limits.argMaxChars).refine(noNul, 'must not contain NUL');
export const envKeySchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment names are A-Z, a-z, 0-9 and _');
/** Environment variables of a run: names and values bounded, at most `limits.envMaxCount`. */
export const envSchema = z
  .record(envKeySchema, z.string().max(limits.envValueMaxChars).refine(noNul, 'must not contain NUL'))
  .refine((env) => Object.keys(env).length <= limits.envMaxCount, {
    message: `at most ${limits.envMaxCount} variables`,
  });
const absolutePathSchema = z
  .string()
  .min(1)
  .max(limits.pathMaxChars)
  .refine((s) => s.startsWith('/') && noNul(s), 'must be an absolute path without NUL');

/** Interpreters an agent knows by name; anything else must be an absolute path. */
export const namedInterpreters = ['sh', 'bash', 'python3', 'node'] as const;
export const interpreterSchema = z.union([z.enum(namedInterpreters), absolutePathSchema]);

/**
 * How long a run may take when the operator names no timeout: one default for the CLI
 * (`run` without `--timeout`) and the console's Run form alike.
 */
export const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export const runSpecSchema = z
  .object({
    /** A one-line command run through `/bin/sh -c`. Exactly one of command and script. */
    command: z.string().min(1).max(limits.commandMaxChars).refine(noNul, 'must not contain NUL').optional(),
    script: z
      .object({
        interpreter: interpreterSchema,
        body: z.string().max(limits.scriptMaxChars).refine(noNul, 'must not contain NUL'),
      })
      .strict()
      .optional(),
    args: z.array(argSchema).max(limits.argsMaxCount).default([]),
    env: envSchema.default({}),
    cwd: absolutePathSchema.optional(),
    timeoutMs: z.number().int().min(1).max(limits.timeoutMaxMs),
    killGraceMs: z.number().int().min(0).max(limits.killGraceMaxMs).default(5000),
    pty: z.boolean().default(false),
    /**
     * stderr into stdout (as `2>&1`): one stream, in exactly the order the run wrote it. Two
     * pipes keep the streams apart but not their order: what a run writes to both between two
     * reads of the agent arrives stream by stream. Optional, never defaulted, so a spec without
     * it is the same message an older agent accepts.
     */
    mergeStderr: z.boolean().optional(),
    runAs: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a plain user name')
      .optional(),
  })
  .strict()
  .refine((spec) => (spec.command === undefined) !== (spec.script === undefined), {
    message: 'give exactly one of command and script',
  });
export type RunSpec = z.infer<typeof runSpecSchema>;
export type RunSpecInput = z.input<typeof runSpecSchema>;

// ---- master → agent: `{p}/v1/nodes/{nodeId}/cmd` ------------------------------------------

export const runCommandSchema = z
  .object({
    kind: z.literal('run'),
    runId: idSchema,
    jobId: idSchema,
    /** A run not started by this time is never started (it is rejected as expired). */
    deadlineAt: epochMsSchema,
    spec: runSpecSchema,
  })
  .strict();

export const cancelCommandSchema = z.object({ kind: z.literal('cancel'), runId: idSchema }).strict();

/**
 * The master's end-to-end acknowledgement: every chunk of `runId` with seq <= `seq` is
 * committed to its database. `exited` carries the seq after the last chunk, so acking it
 * acknowledges the whole run.
 */
export const ackCommandSchema = z
  .object({
    kind: z.literal('ack'),
    runs: z
      .array(z.object({ runId: idSchema, seq: seqSchema }).strict())
      .min(1)
      .max(limits.acksMaxCount),
  })
  .strict();

export const pingCommandSchema = z.object({ kind: z.literal('ping'), pingId: idSchema }).strict();

// ---- shell sessions: commands on `cmd`, events on `{p}/v1/nodes/{nodeId}/shell` ------------
//
// One interactive terminal on a node, relayed by the master between the agent and one client.
// Keystrokes and resizes share one sequence (from 0) so the agent applies them in the order
// they were typed; output has its own (from 0). QoS 1 may deliver twice, or late after a
// reconnect: a receiver drops a seq it has seen and holds early ones until the gap fills.

const terminalColsSchema = z.number().int().min(1).max(limits.terminalMaxCols);
const terminalRowsSchema = z.number().int().min(1).max(limits.terminalMaxRows);

/** Bytes of one keystroke message or output message of a shell session. */
const shellDataSchema = z.instanceof(Uint8Array).refine((data) => data.byteLength <= limits.shellDataMaxBytes, {
  message: `shell data is at most ${limits.shellDataMaxBytes} bytes`,
});

export const shellOpenCommandSchema = z
  .object({
    kind: z.literal('shell_open'),
    sessionId: idSchema,
    /** Run through `/bin/sh -c` on the terminal; absent: the agent user's login shell. */
    command: z.string().min(1).max(limits.commandMaxChars).refine(noNul, 'must not contain NUL').optional(),
    cols: terminalColsSchema,
    rows: terminalRowsSchema,
    /** `TERM` of the client's terminal. */
    term: z
      .string()
      .regex(/^[A-Za-z0-9._+-]{1,64}$/, 'must be a terminal type name')
      .default('xterm-256color'),
    /** Not opened after this time: the client gave up waiting. */
    deadlineAt: epochMsSchema,
  })
  .strict();

export const shellInputCommandSchema = z
  .object({ kind: z.literal('shell_input'), sessionId: idSchema, seq: seqSchema, data: shellDataSchema })
  .strict();

export const shellResizeCommandSchema = z
  .object({
    kind: z.literal('shell_resize'),
    sessionId: idSchema,
    seq: seqSchema,
    cols: terminalColsSchema,
    rows: terminalRowsSchema,
  })
  .strict();

export const shellCloseCommandSchema = z
  .object({ kind: z.literal('shell_close'), sessionId: idSchema, reason: z.string().max(limits.reasonMaxChars) })
  .strict();

export const commandSchema = z.discriminatedUnion('kind', [
  runCommandSchema,
  cancelCommandSchema,
  ackCommandSchema,
  pingCommandSchema,
  shellOpenCommandSchema,
  shellInputCommandSchema,
  shellResizeCommandSchema,
  shellCloseCommandSchema,
]);
export type Command = z.infer<typeof commandSchema>;
export type ShellCommand = Extract<Command, { kind: `shell_${string}` }>;
export type RunCommand = z.infer<typeof runCommandSchema>;
export type AckCommand = z.infer<typeof ackCommandSchema>;

// ---- agent → master: `{p}/v1/nodes/{nodeId}/evt` ------------------------------------------

export const outputStreams = ['stdout', 'stderr', 'system'] as const;
export const outputStreamSchema = z.enum(outputStreams);
export type OutputStream = z.infer<typeof outputStreamSchema>;

export const runOutcomes = ['succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted'] as const;
export const runOutcomeSchema = z.enum(runOutcomes);
export type RunOutcome = z.infer<typeof runOutcomeSchema>;

export const rejectionCodes = [
  'duplicate',
  'expired',
  'invalid',
  'pty_unavailable',
  'run_as_unavailable',
  /** The spec's cwd is not a directory on the node (named, because spawn would blame the shell). */
  'cwd_missing',
  'spawn_failed',
] as const;
export const rejectionCodeSchema = z.enum(rejectionCodes);

const reasonSchema = z.string().max(limits.reasonMaxChars);

export const acceptedEventSchema = z.object({ kind: z.literal('accepted'), runId: idSchema }).strict();

export const startedEventSchema = z
  .object({
    kind: z.literal('started'),
    runId: idSchema,
    startedAt: epochMsSchema,
    pid: z
      .number()
      .int()
      .min(1)
      .max(2 ** 32),
  })
  .strict();

/** Bytes exactly as the process wrote them; carried outside the JSON part of the body. */
export const chunkDataSchema = z.instanceof(Uint8Array).refine((data) => data.byteLength <= limits.chunkMaxBytes, {
  message: `chunk data is at most ${limits.chunkMaxBytes} bytes`,
});

export const outputEventSchema = z
  .object({
    kind: z.literal('output'),
    runId: idSchema,
    seq: seqSchema,
    stream: outputStreamSchema,
    data: chunkDataSchema,
  })
  .strict();

export const exitedEventSchema = z
  .object({
    kind: z.literal('exited'),
    runId: idSchema,
    /** One past the last output chunk's seq: the number of chunks the run produced. */
    seq: seqSchema,
    outcome: runOutcomeSchema,
    exitCode: z.number().int().min(-1024).max(1024).nullable(),
    signal: z.string().max(32).nullable(),
    startedAt: epochMsSchema.nullable(),
    endedAt: epochMsSchema,
    peakRssBytes: z.number().int().min(0).nullable(),
    outputBytes: z.number().int().min(0),
    /** The agent's spool cut this run's output (its cap, or damage found at a restart); a `system` chunk marks where. */
    outputTruncated: z.boolean(),
    reason: reasonSchema.optional(),
  })
  .strict();

export const rejectedEventSchema = z
  .object({
    kind: z.literal('rejected'),
    runId: idSchema,
    code: rejectionCodeSchema,
    reason: reasonSchema,
  })
  .strict();

export const pongEventSchema = z.object({ kind: z.literal('pong'), pingId: idSchema }).strict();

export const eventSchema = z.discriminatedUnion('kind', [
  acceptedEventSchema,
  startedEventSchema,
  outputEventSchema,
  exitedEventSchema,
  rejectedEventSchema,
  pongEventSchema,
]);
export type AgentEvent = z.infer<typeof eventSchema>;
export type OutputEvent = z.infer<typeof outputEventSchema>;
export type ExitedEvent = z.infer<typeof exitedEventSchema>;

export const shellRefusalCodes = [
  'pty_unavailable',
  'spawn_failed',
  'expired',
  'duplicate',
  'too_many_sessions',
] as const;

export const shellEventSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('shell_started'),
      sessionId: idSchema,
      pid: z
        .number()
        .int()
        .min(1)
        .max(2 ** 32),
      ptyKind: z.enum(['native', 'script']),
    })
    .strict(),
  z.object({ kind: z.literal('shell_output'), sessionId: idSchema, seq: seqSchema, data: shellDataSchema }).strict(),
  z
    .object({
      kind: z.literal('shell_exit'),
      sessionId: idSchema,
      /** One past the last output seq: the receiver has everything once it has seen them all. */
      seq: seqSchema,
      exitCode: z.number().int().min(-1024).max(1024).nullable(),
      signal: z.string().max(32).nullable(),
      reason: reasonSchema.optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('shell_refused'),
      sessionId: idSchema,
      code: z.enum(shellRefusalCodes),
      reason: reasonSchema,
    })
    .strict(),
]);
export type ShellEvent = z.infer<typeof shellEventSchema>;

// ---- agent → master: `{p}/v1/nodes/{nodeId}/state`, retained -------------------------------

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** `native`: node-pty; `script`: script(1) from util-linux, no native module; `none`: no terminal. */
export const ptyKindSchema = z.enum(['native', 'script', 'none']);
export type PtyKindReport = z.infer<typeof ptyKindSchema>;

export const nodeFactsSchema = z
  .object({
    hostname: z.string().max(255),
    os: z.string().max(64),
    osRelease: z.string().max(256),
    arch: z.string().max(32),
    kernel: z.string().max(256),
    agentVersion: z.string().max(64),
    tags: tagsSchema,
    cpuCount: count,
    loadAvg: z.array(z.number().min(0).max(1e6)).length(3),
    memTotalBytes: count,
    memAvailableBytes: count,
    diskTotalBytes: count,
    diskFreeBytes: count,
    uptimeSec: count,
    runningRuns: count,
    maxConcurrentRuns: count,
    capabilities: z
      .object({
        pty: z.boolean(),
        /** How the agent gives a terminal; agents before 0.2 leave it out (their `pty` says whether). */
        ptyKind: ptyKindSchema.optional(),
        /** The agent opens shell sessions (`shell_open`); agents before 0.2 leave it out. */
        shell: z.boolean().optional(),
        runAs: z.boolean(),
      })
      .strict(),
  })
  .strict();
export type NodeFacts = z.infer<typeof nodeFactsSchema>;

/**
 * Sealed at connect time (the will is too) and retained, so it may be read hours later: it is
 * ordered by (connectionSeq, beat) instead of by the clock. The will is `online: false` with
 * the connection's seq; an offline state wins over an online one of the same connection.
 */
export const stateMessageSchema = z
  .object({
    kind: z.literal('state'),
    online: z.boolean(),
    connectionSeq: count,
    beat: count,
    facts: nodeFactsSchema.optional(),
  })
  .strict();
export type StateMessage = z.infer<typeof stateMessageSchema>;

export type Message = Command | AgentEvent | StateMessage | ShellEvent;

/** Which schema a message on each channel must pass. */
export const channelSchemas = {
  cmd: commandSchema,
  evt: eventSchema,
  state: stateMessageSchema,
  shell: shellEventSchema,
} as const;
