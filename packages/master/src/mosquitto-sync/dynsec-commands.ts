import { z } from 'zod';

/**
 * The slice of Mosquitto's dynamic-security control API (2.0, `$CONTROL/dynamic-security/v1`)
 * that EdgeStelle uses. Every command carries correlationData so a reply can be matched to its
 * request even when several masters share the response topic.
 */
export const DYNSEC_REQUEST_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = '$CONTROL/dynamic-security/v1/response';

export type AclType =
  | 'publishClientSend'
  | 'publishClientReceive'
  | 'subscribeLiteral'
  | 'subscribePattern'
  | 'unsubscribeLiteral'
  | 'unsubscribePattern';

export interface Acl {
  acltype: AclType;
  topic: string;
  allow: boolean;
}

export type DynsecCommand =
  | { command: 'createRole'; rolename: string; acls: Acl[] }
  | { command: 'deleteRole'; rolename: string }
  | { command: 'addRoleACL'; rolename: string; acltype: AclType; topic: string; allow: boolean }
  | { command: 'createClient'; username: string; password: string; roles: { rolename: string }[] }
  | { command: 'deleteClient'; username: string }
  | { command: 'setClientPassword'; username: string; password: string }
  | { command: 'addClientRole'; username: string; rolename: string }
  | { command: 'getClient'; username: string };

export const dynsecResponseSchema = z.object({
  responses: z.array(
    z.object({
      command: z.string(),
      error: z.string().optional(),
      correlationData: z.string().optional(),
      data: z.unknown().optional(),
    }),
  ),
});

/** The part of a getClient answer we read. */
export const dynsecClientSchema = z.object({
  client: z.object({ roles: z.array(z.object({ rolename: z.string() })).default([]) }),
});

/**
 * Mosquitto answers with English sentences, not codes; these are the ones that mean "already
 * as asked", which makes every operation safe to repeat.
 */
export function isAlreadyExists(error: string): boolean {
  return /already exists|already has/i.test(error);
}

export function isNotFound(error: string): boolean {
  return /not found/i.test(error);
}
