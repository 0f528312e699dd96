import * as z from 'zod';

/**
 * The body of every error answer of the master's API. Apart from api.ts so that a client that
 * needs only this (the agent's enrolment) does not build the whole REST contract at start.
 */
export const apiErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  /** The request field at fault, as a dotted path (`spec.timeoutMs`), when there is one. */
  field: z.string().optional(),
});
export type ApiError = z.infer<typeof apiErrorSchema>;
