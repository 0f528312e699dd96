import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { assertNodeId } from './topics.ts';

/**
 * Proof that an enrolling agent holds a node's current key (docs/PROTOCOL.md, "Enrollment"):
 * the one way, besides a join token an admin made for that node id, to enroll a node that is
 * already enrolled.
 *
 *   HMAC-SHA256(nodeKey, "edgestelle/v1/enroll-proof" | 0x00 | nodeId | 0x00 | keyId u32
 *               | SHA-256(join token) | sentAtMs u64), base64url without padding
 *
 * Replay is what it must survive, so it binds everything a replay would change: the join token
 * (a captured proof is worth nothing with another token), the key id (a successful enrollment
 * moves the node to the next epoch, after which the proof names a key that is no longer current)
 * and the time (the master takes it only within the protocol's clock-skew window).
 */
const LABEL = 'edgestelle/v1/enroll-proof';
const KEY_BYTES = 32;

export interface EnrollProofFields {
  nodeId: string;
  /** The epoch of the key that signs: the node's current one, or the master refuses. */
  keyId: number;
  /** The join token sent with the proof, as the agent got it. */
  joinToken: string;
  sentAtMs: number;
}

function proofMessage(fields: EnrollProofFields): Buffer {
  assertNodeId(fields.nodeId);
  if (!Number.isInteger(fields.keyId) || fields.keyId < 0 || fields.keyId > 0xffffffff) {
    throw new RangeError(`key id must be an integer from 0 to ${0xffffffff}`);
  }
  if (!Number.isSafeInteger(fields.sentAtMs) || fields.sentAtMs < 0) {
    throw new RangeError('sent-at must be milliseconds since the Unix epoch');
  }
  const numbers = Buffer.alloc(12);
  numbers.writeUInt32BE(fields.keyId, 0);
  numbers.writeBigUInt64BE(BigInt(fields.sentAtMs), 4);
  return Buffer.concat([
    Buffer.from(`${LABEL}\0${fields.nodeId}\0`, 'utf8'),
    numbers.subarray(0, 4),
    createHash('sha256').update(fields.joinToken, 'utf8').digest(),
    numbers.subarray(4),
  ]);
}

export function signEnrollProof(nodeKey: Uint8Array, fields: EnrollProofFields): string {
  if (nodeKey.byteLength !== KEY_BYTES) throw new RangeError(`keys are ${KEY_BYTES} bytes`);
  return createHmac('sha256', nodeKey).update(proofMessage(fields)).digest('base64url');
}

/** Constant-time; says nothing about freshness or whether `keyId` is current: the caller checks those. */
export function enrollProofMatches(nodeKey: Uint8Array, fields: EnrollProofFields, mac: string): boolean {
  const expected = Buffer.from(signEnrollProof(nodeKey, fields), 'base64url');
  const given = Buffer.from(mac, 'base64url');
  return given.byteLength === expected.byteLength && timingSafeEqual(given, expected);
}
