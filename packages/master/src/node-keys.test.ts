import { join } from 'node:path';
import { deriveNodeKey, generateMasterSecret } from '@edgestelle/protocol/envelope';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { openStore } from './db/connect.ts';
import { NodeKeys } from './node-keys.ts';

describe('NodeKeys', () => {
  it('holds each node its own derived key across slabs, and a new epoch replaces the old key in place', async () => {
    await using dir = await tempDir();
    const store = await openStore(`sqlite:${join(dir.path, 'master.db')}`);
    try {
      const secret = generateMasterSecret();
      const keys = new NodeKeys(store, secret);
      // More nodes than one slab holds.
      const nodeIds = Array.from({ length: 600 }, (_, i) => `node-${i}`);
      for (const nodeId of nodeIds) keys.set(nodeId, 0, false);
      const seen = new Set<string>();
      for (const nodeId of nodeIds) {
        const key = keys.keyFor(nodeId, 0);
        expect(key?.equals(deriveNodeKey(secret, nodeId, 0))).toBe(true);
        seen.add(key?.toString('hex') ?? '');
      }
      expect(seen.size).toBe(nodeIds.length);

      const before = keys.keyFor('node-300', 0);
      keys.set('node-300', 1, false);
      expect(keys.keyFor('node-300', 0)).toBeUndefined();
      const after = deriveNodeKey(secret, 'node-300', 1);
      expect(keys.keyFor('node-300', 1)?.equals(after)).toBe(true);
      expect(keys.sealingKey('node-300')).toEqual({ keyId: 1, key: after });
      // The old key's bytes are gone, not left beside the new one.
      expect(before?.equals(after)).toBe(true);
      for (const nodeId of ['node-299', 'node-301']) {
        expect(keys.keyFor(nodeId, 0)?.equals(deriveNodeKey(secret, nodeId, 0))).toBe(true);
      }

      keys.set('node-300', 1, true);
      expect(keys.keyFor('node-300', 1)).toBeUndefined();
      expect(keys.sealingKey('node-300')).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
