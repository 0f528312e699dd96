import { deriveNodeKey, type SealingKey } from '@edgestelle/protocol/envelope';
import type { Store } from './db/store.ts';

interface NodeKeyInfo {
  epoch: number;
  revoked: boolean;
  key: Buffer;
}

/** Keys per slab: 8 KiB, as many keys as fit. */
const KEYS_PER_SLAB = 256;
/** What deriveNodeKey returns. */
const KEY_BYTES = 32;

/**
 * Node keys for opening and sealing envelopes, derived from the master secret and each node's
 * key epoch. Opening is synchronous (it runs once per MQTT message), so the epochs are cached;
 * {@link ensure} loads nodes another master enrolled before their messages are opened.
 *
 * The cached keys sit side by side in slabs of this cache's own: one ArrayBuffer per 32-byte
 * key cost ~100 bytes of heap and ~300-600 of native bookkeeping per node (the master holds one
 * per node). A node's slot is its own for good; a new epoch overwrites it in place, so an old
 * key does not linger, and a key handed out is only ever used synchronously.
 */
export class NodeKeys {
  private readonly cache = new Map<string, NodeKeyInfo>();
  private slab = Buffer.alloc(0);
  private slotsUsed = KEYS_PER_SLAB;

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
    const derived = deriveNodeKey(this.masterSecret, nodeId, epoch);
    const info = this.cache.get(nodeId);
    const key = info?.key ?? this.newSlot();
    derived.copy(key);
    derived.fill(0);
    if (info === undefined) {
      this.cache.set(nodeId, { epoch, revoked, key });
      return;
    }
    info.epoch = epoch;
    info.revoked = revoked;
  }

  private newSlot(): Buffer {
    if (this.slotsUsed === KEYS_PER_SLAB) {
      this.slab = Buffer.alloc(KEYS_PER_SLAB * KEY_BYTES);
      this.slotsUsed = 0;
    }
    const start = this.slotsUsed * KEY_BYTES;
    this.slotsUsed += 1;
    return this.slab.subarray(start, start + KEY_BYTES);
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
