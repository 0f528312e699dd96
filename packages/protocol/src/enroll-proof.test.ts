import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { enrollKeyProofSchema } from './enrollment.ts';
import { deriveNodeKey, enrollProofMatches, generateMasterSecret, signEnrollProof } from './envelope.ts';

const secret = generateMasterSecret();
const fields = { nodeId: 'edge-1', keyId: 2, joinToken: 'esj_token', sentAtMs: 1767225600000 };
const key = deriveNodeKey(secret, 'edge-1', 2);

describe('enrollment proof of the node key', () => {
  it('matches only under the same key and the same node id, key id, join token and time', () => {
    const mac = signEnrollProof(key, fields);
    expect(enrollKeyProofSchema.safeParse({ keyId: 2, sentAt: fields.sentAtMs, mac }).success).toBe(true);
    expect(enrollProofMatches(key, fields, mac)).toBe(true);
    const changed = [
      { ...fields, nodeId: 'edge-2' },
      { ...fields, keyId: 3 },
      { ...fields, joinToken: 'esj_other' },
      { ...fields, sentAtMs: fields.sentAtMs + 1 },
    ];
    for (const other of changed) expect(enrollProofMatches(key, other, mac)).toBe(false);
    expect(enrollProofMatches(deriveNodeKey(secret, 'edge-1', 1), fields, mac)).toBe(false);
    expect(enrollProofMatches(key, fields, mac.slice(0, -1))).toBe(false);
    expect(enrollProofMatches(key, fields, '')).toBe(false);
  });

  it('refuses to sign malformed fields rather than sign something else', () => {
    expect(() => signEnrollProof(key, { ...fields, nodeId: 'Edge 1' })).toThrow();
    expect(() => signEnrollProof(key, { ...fields, keyId: -1 })).toThrow(RangeError);
    expect(() => signEnrollProof(key, { ...fields, sentAtMs: 1.5 })).toThrow(RangeError);
    expect(() => signEnrollProof(key.subarray(1), fields)).toThrow(RangeError);
  });

  const vectorSchema = z.object({
    enrollProofs: z.array(
      z.object({
        name: z.string(),
        nodeKeyHex: z.string(),
        nodeId: z.string(),
        keyId: z.number(),
        joinToken: z.string(),
        sentAtMs: z.number(),
        mac: z.string(),
      }),
    ),
  });
  const { enrollProofs } = vectorSchema.parse(
    JSON.parse(readFileSync(new URL('../test-vectors/v1.json', import.meta.url), 'utf8')),
  );

  it.each(enrollProofs.map((v) => [v.name, v] as const))('test vector %s', (_name, v) => {
    const vectorKey = Buffer.from(v.nodeKeyHex, 'hex');
    const { nodeId, keyId, joinToken, sentAtMs } = v;
    expect(signEnrollProof(vectorKey, { nodeId, keyId, joinToken, sentAtMs })).toBe(v.mac);
  });
});
