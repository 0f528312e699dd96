import * as z from 'zod';
import { limits } from './limits.ts';
import { idSchema } from './messages.ts';

/**
 * A shell session as the CLI and the console see it: one WebSocket,
 * `GET /api/v1/nodes/{nodeId}/shell?cols=&rows=&term=&command=`. Binary frames are bytes
 * (keystrokes up, terminal output down); text frames are the JSON messages below.
 */

const colsSchema = z.coerce.number().int().min(1).max(limits.terminalMaxCols);
const rowsSchema = z.coerce.number().int().min(1).max(limits.terminalMaxRows);

export const shellQuerySchema = z
  .object({
    cols: colsSchema.default(80),
    rows: rowsSchema.default(24),
    term: z
      .string()
      .regex(/^[A-Za-z0-9._+-]{1,64}$/, 'must be a terminal type name')
      .default('xterm-256color'),
    /** Run through `/bin/sh -c` instead of the login shell. */
    command: z.string().min(1).max(limits.commandMaxChars).optional(),
  })
  .strict();
export type ShellQuery = z.infer<typeof shellQuerySchema>;

export const shellClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('resize'), cols: colsSchema, rows: rowsSchema }).strict(),
]);
export type ShellClientMessage = z.infer<typeof shellClientMessageSchema>;

/** Why a session could not start or was ended by the master; `message` says what to do. */
export const shellErrorCodes = [
  'unauthenticated',
  'forbidden',
  'not_found',
  'invalid_request',
  'node_offline',
  'shell_unsupported',
  'pty_unavailable',
  'refused',
  'no_answer',
  'unavailable',
] as const;

export const shellServerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started'), sessionId: idSchema, ptyKind: z.enum(['native', 'script']) }).strict(),
  z
    .object({
      type: z.literal('exit'),
      exitCode: z.number().int().nullable(),
      signal: z.string().nullable(),
      /** Set when the master or agent ended the session (idle, too long, closed by the client). */
      reason: z.string().optional(),
    })
    .strict(),
  z.object({ type: z.literal('error'), code: z.enum(shellErrorCodes), message: z.string() }).strict(),
]);
export type ShellServerMessage = z.infer<typeof shellServerMessageSchema>;

/** WebSocket close codes of a shell session (the live hub's, where they mean the same). */
export const shellCloseCodes = {
  /** The session ended; the last text frame said how. */
  ended: 1000,
  refused: 4400,
  unauthenticated: 4401,
  forbidden: 4403,
  shuttingDown: 4503,
} as const;

export const shellSessionDtoSchema = z.object({
  sessionId: idSchema,
  nodeId: z.string(),
  username: z.string(),
  command: z.string().nullable(),
  startedAt: z.number().int(),
  endedAt: z.number().int().nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  endReason: z.string().nullable(),
  /** Bytes of the asciicast v2 recording (0 while the session runs). */
  recordingBytes: z.number().int().min(0),
});
export type ShellSessionDto = z.infer<typeof shellSessionDtoSchema>;

export const shellSessionListQuerySchema = z
  .object({
    nodeId: z.string().max(64).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
export const shellSessionListSchema = z.object({ items: z.array(shellSessionDtoSchema) });
