import {
  auditActionSchema,
  auditEventDtoSchema,
  newId,
  type AuditAction,
  type AuditEventDto,
  type AuditPage,
  type auditQuerySchema,
} from '@edgestelle/protocol';
import type { Kysely, Selectable } from 'kysely';
import type { z } from 'zod';
import type { Clock } from '../clock.ts';
import type { AuditEventsTable, Database } from '../db/schema.ts';
import { cursorString, decodeCursor, encodeCursor } from '../db/cursor.ts';

/** Who did something and from where: what every audited service method takes. */
export interface Actor {
  /** Username, `node:<nodeId>` or `system`. */
  name: string;
  ip: string | null;
}

export const systemActor: Actor = { name: 'system', ip: null };

export type AuditDetails = Record<string, string | number | boolean | null>;

export interface AuditEntry {
  actor: Actor;
  action: AuditAction;
  target: string | null;
  details?: AuditDetails;
}

/**
 * The audit log: one row per login, failed login, run, cancel, enrollment, revocation and
 * change. Callers write the row with the same executor (transaction) as the change, so a
 * change never lands without its event nor the other way round. Nothing here updates or
 * deletes an event; retention leaves the table alone.
 */
export class AuditLog {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async record(executor: Kysely<Database>, entry: AuditEntry): Promise<void> {
    const nowMs = this.clock.now();
    await executor
      .insertInto('audit_events')
      .values({
        event_id: newId(nowMs),
        at: nowMs,
        actor: entry.actor.name.slice(0, 160),
        ip: entry.actor.ip,
        action: entry.action,
        target: entry.target,
        details: JSON.stringify(entry.details ?? {}),
      })
      .execute();
  }

  async list(query: z.output<typeof auditQuerySchema>): Promise<AuditPage> {
    let q = this.db
      .selectFrom('audit_events')
      .selectAll()
      .orderBy('event_id', 'desc')
      .limit(query.limit + 1);
    if (query.actor !== undefined) q = q.where('actor', '=', query.actor);
    if (query.action !== undefined) q = q.where('action', 'in', query.action);
    // A prefix as a range: the same on both databases, no LIKE escaping, and it uses the index.
    if (query.target !== undefined)
      q = q.where('target', '>=', query.target).where('target', '<', `${query.target}\uffff`);
    if (query.from !== undefined) q = q.where('at', '>=', query.from);
    if (query.to !== undefined) q = q.where('at', '<', query.to);
    if (query.cursor !== undefined) q = q.where('event_id', '<', cursorString(decodeCursor(query.cursor, 1)[0]));
    const rows = await q.execute();
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map(auditEventDto),
      nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor([last.event_id]) : null,
    };
  }
}

function auditEventDto(row: Selectable<AuditEventsTable>): AuditEventDto {
  return {
    eventId: row.event_id,
    at: row.at,
    actor: row.actor,
    ip: row.ip,
    action: auditActionSchema.parse(row.action),
    target: row.target,
    details: auditEventDtoSchema.shape.details.parse(JSON.parse(row.details)),
  };
}
