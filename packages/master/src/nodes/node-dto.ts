import { nodeFactsSchema, type NodeDto, type NodeFacts } from '@edgestelle/protocol';
import type { Selectable } from 'kysely';
import type { NodesTable } from '../db/schema.ts';
import { parseTags } from './tags.ts';

/** A node row to its API DTO; its JSON columns pass their schemas on the way out. */
export function nodeDto(row: Selectable<NodesTable>): NodeDto {
  return {
    nodeId: row.node_id,
    name: row.name,
    online: row.online === 1 && row.revoked_at === null,
    tags: parseTags(row.tags),
    facts: row.facts === null ? null : parseFacts(row.facts),
    lastSeenAt: row.last_seen_at,
    enrolledAt: row.enrolled_at,
    revokedAt: row.revoked_at,
  };
}

export function parseFacts(text: string): NodeFacts {
  return nodeFactsSchema.parse(JSON.parse(text));
}
