import { deriveNodeKey, type SealingKey } from '@edgestelle/protocol/envelope';
import type { Store } from './db/connect.ts';

interface NodeKeyInfo {
  epoch: number;
  revoked: boolean;
  key: Buffer;
}

/**
 * Node keys for opening and sealing envelopes, derived from the master secret and each node's
 * key epoch. Opening is synchronous (it runs once per MQTT message), so the epochs are cached;
 * {@link ensure} loads nodes another master enrolled before their messages are opened.
 */
export class NodeKeys {
  private readonly cache = new Map<string, NodeKeyInfo>();

  constructor(
    private readonly store: Store,
    private readonly masterSecret: Buffer,
  ) {}

  /** The current key of a known, unrevoked node for this key id, else undefined (refused). */
  keyFor(nodeId: string, keyId: number): Buffer | undefined {
    const info = this.cache.get(nodeId);
    if (info === undefined || info.revoked || info.epoch !== keyId) return undefined;
    return info.key;
  }

  sealingKey(nodeId: string): SealingKey | undefined {
    const info = this.cache.get(nodeId);
    if (info === undefined || info.revoked) return undefined;
    return { keyId: info.epoch, key: info.key };
  }

  set(nodeId: string, epoch: number, revoked: boolean): void {
    this.cache.set(nodeId, { epoch, revoked, key: deriveNodeKey(this.masterSecret, nodeId, epoch) });
  }

  async ensure(nodeIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(nodeIds)].filter((nodeId) => !this.cache.has(nodeId));
    if (missing.length === 0) return;
    await this.reload(missing);
  }

  /** Re-reads nodes from the database (after a change another master may have made). */
  async reload(nodeIds?: readonly string[]): Promise<void> {
    let query = this.store.db.selectFrom('nodes').select(['node_id', 'key_epoch', 'revoked_at']);
    if (nodeIds !== undefined) {
      if (nodeIds.length === 0) return;
      query = query.where('node_id', 'in', nodeIds);
    }
    for (const row of await query.execute()) this.set(row.node_id, row.key_epoch, row.revoked_at !== null);
  }
}
