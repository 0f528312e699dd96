import * as z from 'zod';
import { epochMsSchema, nodeIdSchema, tagsSchema } from './messages.ts';

/**
 * `POST /api/v1/enroll`: what a node sends with its join token, and the credentials it gets back
 * and keeps (the agent's credentials.json). Apart from api.ts because the running agent reads
 * its credentials with this schema: the agent's bundle then leaves the rest of the REST
 * contract out (this package is `sideEffects: false`): the schemas it would otherwise build at
 * start made V8 optimise zod's constructors: ~5 MiB of the agent's idle RSS (docs/AGENT.md, "Cost").
 */
/**
 * Proof that the sender holds the node's current key (`signEnrollProof` in
 * `@edgestelle/protocol/envelope`); the agent sends it when its state dir holds credentials for
 * the node id it enrolls.
 */
export const enrollKeyProofSchema = z
  .object({
    keyId: z.number().int().min(0).max(0xffffffff),
    sentAt: epochMsSchema,
    /** HMAC-SHA256, base64url without padding. */
    mac: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url (43 characters)'),
  })
  .strict();
export type EnrollKeyProof = z.infer<typeof enrollKeyProofSchema>;

export const enrollRequestSchema = z
  .object({
    token: z.string().min(1).max(256),
    /**
     * The node's own id (made on its first start). An id that is already enrolled is refused
     * (`node_exists`) unless the token was made for it or `keyProof` proves the node's current key.
     */
    nodeId: nodeIdSchema,
    name: z.string().min(1).max(255),
    keyProof: enrollKeyProofSchema.optional(),
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
