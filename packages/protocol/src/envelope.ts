import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { decodeBody, encodeBody } from './body-codec.ts';
import { ProtocolError, ProtocolErrorCode } from './errors.ts';
import type { z } from 'zod';
import { limits } from './limits.ts';
import { channelSchemas, type AgentEvent, type Command, type ShellEvent, type StateMessage } from './messages.ts';
import { describeIssues } from './schema-errors.ts';
import { assertNodeId, type NodeRoute, type Topics } from './topics.ts';

/**
 * The sealed envelope of protocol v1 (docs/PROTOCOL.md has the byte layout and test vectors):
 *
 *   version u8 | keyId u32 | messageId 16 B | sentAtMs u64 | nonce 12 B | ciphertext | tag 16 B
 *
 * AES-256-GCM under the node's key. The additional data is the 41-byte header followed by the
 * topic's UTF-8 bytes, so a message cannot be moved to another node's topic or channel, and
 * no header field can be changed without failing the tag.
 */
export const ENVELOPE_VERSION = 1;
const KEY_ID_OFFSET = 1;
const MESSAGE_ID_OFFSET = 5;
const MESSAGE_ID_BYTES = 16;
const SENT_AT_OFFSET = 21;
const NONCE_OFFSET = 29;
const NONCE_BYTES = 12;
export const HEADER_BYTES = 41;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
export const MIN_ENVELOPE_BYTES = HEADER_BYTES + TAG_BYTES;

/**
 * How far a command's sent-at may be from the agent's clock. Replays inside this window are
 * stopped by the agent's run ledger; the window bounds how long a captured command is worth
 * anything at all. Edge clocks drift, so it is minutes, not seconds.
 */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** A key together with the id (its epoch) that names it on the wire. */
export interface SealingKey {
  readonly keyId: number;
  readonly key: Uint8Array;
}

export interface EnvelopeHeader {
  readonly version: number;
  readonly keyId: number;
  /** 32 hex characters; for logs and de-duplication of deliveries, never a chunk's identity. */
  readonly messageId: string;
  readonly sentAtMs: number;
}

/** Master secret: 32 random bytes, the root of every node key. */
export function generateMasterSecret(): Buffer {
  return randomBytes(KEY_BYTES);
}

/**
 * A node's key for one epoch: HKDF-SHA256(secret, salt "edgestelle/v1/node-key",
 * info "<nodeId>/<epoch>"). An agent holds only its own; the master derives any.
 */
export function deriveNodeKey(masterSecret: Uint8Array, nodeId: string, epoch: number): Buffer {
  assertNodeId(nodeId);
  if (masterSecret.byteLength < KEY_BYTES) {
    throw new RangeError(`master secret must be at least ${KEY_BYTES} bytes`);
  }
  assertKeyId(epoch);
  return Buffer.from(hkdfSync('sha256', masterSecret, 'edgestelle/v1/node-key', `${nodeId}/${epoch}`, KEY_BYTES));
}

function assertKeyId(keyId: number): void {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff) {
    throw new RangeError(`key id must be an integer from 0 to ${0xffffffff}`);
  }
}

export interface SealOptions {
  nowMs?: number;
  /** Fixed values are for test vectors only; production always draws them at random. */
  messageId?: Uint8Array;
  nonce?: Uint8Array;
}

export function sealEnvelope(
  topic: string,
  plaintext: Uint8Array,
  sealingKey: SealingKey,
  options: SealOptions = {},
): Buffer {
  assertKeyId(sealingKey.keyId);
  if (sealingKey.key.byteLength !== KEY_BYTES) throw new RangeError(`keys are ${KEY_BYTES} bytes`);
  const envelope = Buffer.allocUnsafe(HEADER_BYTES + plaintext.byteLength + TAG_BYTES);
  envelope.writeUInt8(ENVELOPE_VERSION, 0);
  envelope.writeUInt32BE(sealingKey.keyId, KEY_ID_OFFSET);
  if (
    (options.messageId !== undefined && options.messageId.byteLength !== MESSAGE_ID_BYTES) ||
    (options.nonce !== undefined && options.nonce.byteLength !== NONCE_BYTES)
  ) {
    throw new RangeError('message id is 16 bytes and nonce 12 bytes');
  }
  if (options.messageId === undefined) fillRandom(envelope, MESSAGE_ID_OFFSET, MESSAGE_ID_BYTES);
  else envelope.set(options.messageId, MESSAGE_ID_OFFSET);
  envelope.writeBigUInt64BE(BigInt(Math.floor(options.nowMs ?? Date.now())), SENT_AT_OFFSET);
  if (options.nonce === undefined) fillRandom(envelope, NONCE_OFFSET, NONCE_BYTES);
  else envelope.set(options.nonce, NONCE_OFFSET);
  const cipher = createCipheriv('aes-256-gcm', sealingKey.key, envelope.subarray(NONCE_OFFSET, HEADER_BYTES));
  cipher.setAAD(additionalData(envelope, topic));
  const written = cipher.update(plaintext);
  written.copy(envelope, HEADER_BYTES);
  const final = cipher.final();
  final.copy(envelope, HEADER_BYTES + written.byteLength);
  cipher.getAuthTag().copy(envelope, HEADER_BYTES + plaintext.byteLength);
  return envelope;
}

// Message ids and nonces are cut from CSPRNG bytes fetched 8 KiB at a time: 28 bytes fetched
// per envelope cost two calls into the CSPRNG each, 1.6 % of the master's CPU in a 10,000-node
// fan-out. A byte is handed out once and the pool is never refilled in place.
const RANDOM_POOL_BYTES = 8192;
let randomPool = Buffer.alloc(0);
let randomPoolOffset = 0;

function fillRandom(target: Buffer, offset: number, length: number): void {
  if (randomPoolOffset + length > randomPool.byteLength) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomPoolOffset = 0;
  }
  randomPool.copy(target, offset, randomPoolOffset, randomPoolOffset + length);
  randomPoolOffset += length;
}

/** Reads the header without checking anything but the layout: for picking the key. */
export function readHeader(envelope: Uint8Array): EnvelopeHeader {
  if (envelope.byteLength > limits.envelopeMaxBytes) {
    throw new ProtocolError(
      ProtocolErrorCode.envelopeTooLarge,
      `envelope of ${envelope.byteLength} bytes exceeds the ${limits.envelopeMaxBytes}-byte limit`,
    );
  }
  if (envelope.byteLength < MIN_ENVELOPE_BYTES) {
    throw new ProtocolError(
      ProtocolErrorCode.envelopeTooShort,
      `envelope of ${envelope.byteLength} bytes is shorter than the ${MIN_ENVELOPE_BYTES}-byte minimum`,
    );
  }
  const buf = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  const version = buf.readUInt8(0);
  if (version !== ENVELOPE_VERSION) {
    throw new ProtocolError(
      ProtocolErrorCode.envelopeVersion,
      `envelope version ${version} is not supported (this build speaks ${ENVELOPE_VERSION})`,
    );
  }
  return {
    version,
    keyId: buf.readUInt32BE(KEY_ID_OFFSET),
    messageId: buf.toString('hex', MESSAGE_ID_OFFSET, MESSAGE_ID_OFFSET + MESSAGE_ID_BYTES),
    sentAtMs: Number(buf.readBigUInt64BE(SENT_AT_OFFSET)),
  };
}

export type KeyLookup = (keyId: number) => Uint8Array | undefined;

export function openEnvelope(
  topic: string,
  envelope: Uint8Array,
  keyFor: KeyLookup,
): { header: EnvelopeHeader; plaintext: Buffer } {
  const header = readHeader(envelope);
  const key = keyFor(header.keyId);
  if (key === undefined) {
    throw new ProtocolError(
      ProtocolErrorCode.envelopeUnknownKey,
      `envelope is sealed with key id ${header.keyId}, which this receiver does not hold`,
    );
  }
  const buf = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  const tagOffset = buf.byteLength - TAG_BYTES;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(NONCE_OFFSET, HEADER_BYTES));
    decipher.setAAD(additionalData(buf, topic));
    decipher.setAuthTag(buf.subarray(tagOffset));
    const plaintext = Buffer.concat([decipher.update(buf.subarray(HEADER_BYTES, tagOffset)), decipher.final()]);
    return { header, plaintext };
  } catch (cause) {
    throw new ProtocolError(
      ProtocolErrorCode.envelopeAuthFailed,
      'envelope failed authentication: wrong key, wrong topic, or altered in transit',
      { cause },
    );
  }
}

function additionalData(envelope: Uint8Array, topic: string): Buffer {
  return Buffer.concat([envelope.subarray(0, HEADER_BYTES), Buffer.from(topic, 'utf8')]);
}

/** Commands must be fresh: sent-at within `maxSkewMs` of the receiver's clock, either way. */
export function checkFreshness(sentAtMs: number, nowMs: number, maxSkewMs: number): void {
  if (sentAtMs < nowMs - maxSkewMs) {
    throw new ProtocolError(
      ProtocolErrorCode.commandStale,
      `command was sent ${Math.round((nowMs - sentAtMs) / 1000)} s ago, more than the allowed ${Math.round(maxSkewMs / 1000)} s: replayed, or the clocks differ`,
    );
  }
  if (sentAtMs > nowMs + maxSkewMs) {
    throw new ProtocolError(
      ProtocolErrorCode.commandFromFuture,
      `command is dated ${Math.round((sentAtMs - nowMs) / 1000)} s in the future, more than the allowed ${Math.round(maxSkewMs / 1000)} s: check the clocks`,
    );
  }
}

export function sealMessage(
  topic: string,
  message: Command | AgentEvent | StateMessage | ShellEvent,
  sealingKey: SealingKey,
  options?: SealOptions,
): Buffer {
  return sealEnvelope(topic, encodeBody(message), sealingKey, options);
}

/** Every message type a topic can carry, tagged by channel so one switch sees them all. */
export type OpenedMessage =
  | { channel: 'cmd'; nodeId: string; header: EnvelopeHeader; message: Command }
  | { channel: 'evt'; nodeId: string; header: EnvelopeHeader; message: AgentEvent }
  | { channel: 'state'; nodeId: string; header: EnvelopeHeader; message: StateMessage }
  | { channel: 'shell'; nodeId: string; header: EnvelopeHeader; message: ShellEvent };

export interface OpenMessageOptions {
  /** The key for a node and key id; the master derives it, an agent knows only its own. */
  keyFor: (nodeId: string, keyId: number) => Uint8Array | undefined;
  nowMs?: number;
  maxSkewMs?: number;
}

/**
 * The whole receive path for one MQTT message: topic, envelope, body, schema for the topic's
 * channel, and freshness for commands. Everything that fails throws a {@link ProtocolError}
 * whose code says why; nothing else escapes.
 */
export function openMessage(
  topics: Topics,
  topic: string,
  payload: Uint8Array,
  options: OpenMessageOptions,
): OpenedMessage {
  const route: NodeRoute = topics.parse(topic);
  const { header, plaintext } = openEnvelope(topic, payload, (keyId) => options.keyFor(route.nodeId, keyId));
  const body = decodeBody(plaintext);
  const { nodeId } = route;
  switch (route.channel) {
    case 'cmd': {
      const message = parseBody(channelSchemas.cmd, body, route);
      checkFreshness(header.sentAtMs, options.nowMs ?? Date.now(), options.maxSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);
      return { channel: 'cmd', nodeId, header, message };
    }
    case 'evt':
      return { channel: 'evt', nodeId, header, message: parseBody(channelSchemas.evt, body, route) };
    case 'state':
      return { channel: 'state', nodeId, header, message: parseBody(channelSchemas.state, body, route) };
    case 'shell':
      return { channel: 'shell', nodeId, header, message: parseBody(channelSchemas.shell, body, route) };
  }
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown, route: NodeRoute): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw new ProtocolError(
    ProtocolErrorCode.bodyInvalid,
    `${route.channel} message of node ${route.nodeId} is invalid: ${describeIssues(result.error)}`,
  );
}

export { decodeBody, encodeBody } from './body-codec.ts';
export { enrollProofMatches, signEnrollProof, type EnrollProofFields } from './enroll-proof.ts';
