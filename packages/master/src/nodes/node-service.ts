import { limits, type NodeDto, type NodeUpdate, type TagDto } from '@edgestelle/protocol';
import { systemActor, type Actor, type AuditLog } from '../audit/audit-log.ts';
import { secretMatches } from '../auth/secrets.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import type { MasterEvents } from '../events.ts';
import type { NodeKeys } from '../node-keys.ts';
import { nodeDto, parseFacts } from './node-dto.ts';
import { mergeTags, parseTags, tagsMatch, type Tags } from './tags.ts';

export interface NodeServiceOptions {
  store: Store;
  keys: NodeKeys;
  clock: Clock;
  events: MasterEvents;
  disconnectNode: (nodeId: string) => void;
  /** Removes the node from an external broker's users (Mosquitto dynamic security). */
  removeBrokerCredentials?: (nodeId: string) => Promise<void>;
  audit: AuditLog;
}

/** Reading, tagging and revoking nodes, and checking their broker credentials. */
export class NodeService {
  constructor(private readonly options: NodeServiceOptions) {}

  private get db() {
    return this.options.store.db;
  }

  async list(filter: { online?: boolean; tags?: Tags }): Promise<NodeDto[]> {
    const rows = await this.db.selectFrom('nodes').selectAll().orderBy('node_id').execute();
    return rows
      .map(nodeDto)
      .filter((n) => filter.online === undefined || n.online === filter.online)
      .filter((n) => filter.tags === undefined || tagsMatch(n.tags, filter.tags));
  }

  async get(nodeId: string): Promise<NodeDto> {
    const row = await this.db.selectFrom('nodes').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
    if (row === undefined) throw notFound(`node ${nodeId}`);
    return nodeDto(row);
  }

  async update(nodeId: string, update: NodeUpdate, actor: Actor = systemActor): Promise<NodeDto> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('nodes').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
      if (row === undefined) throw notFound(`node ${nodeId}`);
      const reported = row.facts === null ? {} : parseFacts(row.facts).tags;
      const base = editTags(update.tags ?? parseTags(row.base_tags), update, reported, nodeId);
      await trx
        .updateTable('nodes')
        .set({
          name: update.name ?? row.name,
          base_tags: JSON.stringify(base),
          tags: JSON.stringify(mergeTags(base, reported)),
        })
        .where('node_id', '=', nodeId)
        .execute();
      await this.options.audit.record(trx, {
        actor,
        action: 'node.update',
        target: `node:${nodeId}`,
        details: {
          ...(update.name === undefined ? {} : { name: update.name }),
          ...(update.tags === undefined ? {} : { tags: JSON.stringify(update.tags) }),
          ...(update.setTags === undefined ? {} : { setTags: JSON.stringify(update.setTags) }),
          ...(update.removeTags === undefined ? {} : { removeTags: update.removeTags.join(',') }),
        },
      });
    });
    this.options.events.emit('node', nodeId);
    return this.get(nodeId);
  }

  /**
   * Deletes a revoked node's record, so its id can enroll again with an ordinary join token
   * and it leaves node lists; its jobs and runs stay in the history. A node that is not revoked
   * is refused: revoking is what ends its access, and it is audited on its own.
   */
  async forget(nodeId: string, actor: Actor = systemActor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('nodes').select(['revoked_at']).where('node_id', '=', nodeId).executeTakeFirst();
      if (row === undefined) throw notFound(`node ${nodeId}`);
      if (row.revoked_at === null) {
        throw new MasterError(
          MasterErrorCode.conflict,
          `node ${nodeId} is not revoked: revoke it first (POST /api/v1/nodes/${nodeId}/revoke, edgestelle nodes revoke ${nodeId})`,
        );
      }
      await trx.deleteFrom('nodes').where('node_id', '=', nodeId).execute();
      await this.options.audit.record(trx, { actor, action: 'node.forget', target: `node:${nodeId}` });
    });
    this.options.events.emit('node', nodeId);
  }

  /** Ends the node's access at once: its key and broker password stop working, its connection is closed. */
  async revoke(nodeId: string, actor: Actor = systemActor): Promise<NodeDto> {
    const row = await this.db.transaction().execute(async (trx) => {
      const found = await trx
        .selectFrom('nodes')
        .select(['key_epoch', 'revoked_at'])
        .where('node_id', '=', nodeId)
        .executeTakeFirst();
      if (found === undefined) throw notFound(`node ${nodeId}`);
      if (found.revoked_at === null) {
        await trx
          .updateTable('nodes')
          .set({ revoked_at: this.options.clock.now(), online: 0 })
          .where('node_id', '=', nodeId)
          .execute();
      }
      await this.options.audit.record(trx, {
        actor,
        action: 'node.revoke',
        target: `node:${nodeId}`,
        details: { again: found.revoked_at !== null },
      });
      return found;
    });
    this.options.keys.set(nodeId, row.key_epoch, true);
    this.options.disconnectNode(nodeId);
    // Idempotent: revoking again retries a broker that was unreachable the first time.
    await this.options.removeBrokerCredentials?.(nodeId);
    this.options.events.emit('node', nodeId);
    return this.get(nodeId);
  }

  async tags(): Promise<TagDto[]> {
    const counts = new Map<string, TagDto>();
    for (const row of await this.db.selectFrom('nodes').select('tags').where('revoked_at', 'is', null).execute()) {
      for (const [key, value] of Object.entries(parseTags(row.tags))) {
        const id = `${key}\0${value}`;
        const entry = counts.get(id) ?? { key, value, nodeCount: 0 };
        entry.nodeCount += 1;
        counts.set(id, entry);
      }
    }
    return [...counts.values()].sort((a, b) => a.key.localeCompare(b.key) || a.value.localeCompare(b.value));
  }

  /** The embedded broker's credential check for a node. */
  async checkBrokerPassword(nodeId: string, password: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('nodes')
      .select(['mqtt_password_hash', 'revoked_at'])
      .where('node_id', '=', nodeId)
      .executeTakeFirst();
    return row !== undefined && row.revoked_at === null && secretMatches(password, row.mqtt_password_hash);
  }
}

/**
 * The admin tags after `setTags` and `removeTags`. A key the agent's own config sets wins over
 * admin tags (mergeTags), so changing it here would change nothing the operator can see: refused.
 */
function editTags(base: Tags, update: NodeUpdate, reported: Tags, nodeId: string): Tags {
  const next = { ...base, ...update.setTags };
  for (const key of update.removeTags ?? []) delete next[key];
  const shadowed = [...Object.keys(update.setTags ?? {}), ...(update.removeTags ?? [])].filter(
    (key) => Object.hasOwn(reported, key) && reported[key] !== next[key],
  );
  if (shadowed.length > 0) {
    throw new MasterError(
      MasterErrorCode.conflict,
      `node ${nodeId}'s agent sets ${shadowed.map((key) => `${key}=${reported[key] ?? ''}`).join(', ')} in its own config, which wins over admin tags: change it in the agent's config (tags)`,
      { field: shadowed.some((key) => Object.hasOwn(update.setTags ?? {}, key)) ? 'setTags' : 'removeTags' },
    );
  }
  if (Object.keys(next).length > limits.tagsMaxCount) {
    throw new MasterError(MasterErrorCode.invalidRequest, `a node takes at most ${limits.tagsMaxCount} tags`, {
      field: 'setTags',
    });
  }
  return next;
}
