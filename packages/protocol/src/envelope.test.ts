import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  HEADER_BYTES,
  MIN_ENVELOPE_BYTES,
  checkFreshness,
  decodeBody,
  deriveNodeKey,
  encodeBody,
  generateMasterSecret,
  openEnvelope,
  openMessage,
  sealEnvelope,
  sealMessage,
  type OpenMessageOptions,
} from './envelope.ts';
import { ProtocolError, ProtocolErrorCode } from './errors.ts';
import { newId } from './ids.ts';
import { limits } from './limits.ts';
import type { Message, RunCommand } from './messages.ts';
import { Topics } from './topics.ts';

const topics = new Topics();
const secret = generateMasterSecret();
const NOW = 1767225600000;
const nodeKey = (nodeId: string, epoch = 0): Buffer => deriveNodeKey(secret, nodeId, epoch);
const options: OpenMessageOptions = {
  keyFor: (nodeId, keyId) => (keyId <= 3 ? nodeKey(nodeId, keyId) : undefined),
  nowMs: NOW,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ProtocolError ? err.code : `not a ProtocolError: ${String(err)}`;
  }
  return undefined;
}

const runCommand: RunCommand = {
  kind: 'run',
  runId: newId(NOW),
  jobId: newId(NOW),
  deadlineAt: NOW + 60_000,
  spec: {
    command: 'echo "$1"',
    args: ['a b; rm -rf /'],
    env: { X: '$(id)' },
    timeoutMs: 1000,
    killGraceMs: 100,
    pty: false,
  },
};

function sealed(nodeId: string, channel: 'cmd' | 'evt' | 'state', message: Message, nowMs = NOW): Buffer {
  return sealMessage(topics.node(nodeId, channel), message, { keyId: 0, key: nodeKey(nodeId) }, { nowMs });
}

describe('sealed envelope', () => {
  it('round-trips a command, an output chunk with raw bytes, and a state message', () => {
    const cmd = openMessage(topics, topics.node('n1', 'cmd'), sealed('n1', 'cmd', runCommand), options);
    expect(cmd).toMatchObject({ channel: 'cmd', nodeId: 'n1', message: runCommand });
    expect(cmd.header).toMatchObject({ version: 1, keyId: 0, sentAtMs: NOW });
    expect(cmd.header.messageId).toMatch(/^[0-9a-f]{32}$/);

    const data = new Uint8Array([0, 0x1b, 0xff, 0xfe, 10, 0x80]);
    const out = openMessage(
      topics,
      topics.node('n1', 'evt'),
      sealed('n1', 'evt', { kind: 'output', runId: runCommand.runId, seq: 3, stream: 'stderr', data }),
      options,
    );
    expect(out.message).toEqual({
      kind: 'output',
      runId: runCommand.runId,
      seq: 3,
      stream: 'stderr',
      data: Buffer.from(data),
    });

    const state = openMessage(
      topics,
      topics.node('n1', 'state'),
      sealed('n1', 'state', { kind: 'state', online: false, connectionSeq: 9, beat: 0 }, NOW - 86_400_000),
      options,
    );
    expect(state.message).toEqual({ kind: 'state', online: false, connectionSeq: 9, beat: 0 });
  });

  it('uses a fresh nonce and message id for every seal of the same message', () => {
    // Enough seals to draw from several of the random pools ids and nonces are cut from.
    const envelopes = Array.from({ length: 1000 }, () => sealed('n1', 'cmd', runCommand));
    const ids = new Set(envelopes.map((e) => e.subarray(5, 21).toString('hex')));
    const nonces = new Set(envelopes.map((e) => e.subarray(29, 41).toString('hex')));
    expect([ids.size, nonces.size]).toEqual([1000, 1000]);
  });

  it('rejects every single-byte flip with the code for the field it hit', () => {
    const topic = topics.node('n1', 'cmd');
    const envelope = sealed('n1', 'cmd', runCommand);
    const seen = new Map<string, number>();
    for (let i = 0; i < envelope.byteLength; i += 1) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(envelope);
        bad[i] = (bad[i] ?? 0) ^ mask;
        const code = codeOf(() => openMessage(topics, topic, bad, options));
        let expected: string = ProtocolErrorCode.envelopeAuthFailed;
        if (i === 0) expected = ProtocolErrorCode.envelopeVersion;
        // A flipped key id names a key the receiver may or may not hold; either way, no entry.
        else if (i >= 1 && i < 5)
          expect([ProtocolErrorCode.envelopeUnknownKey, ProtocolErrorCode.envelopeAuthFailed]).toContain(code);
        if (i === 0 || i >= 5) expect(code, `byte ${i} ^ ${mask}`).toBe(expected);
        seen.set(code ?? 'accepted', (seen.get(code ?? 'accepted') ?? 0) + 1);
      }
    }
    expect(seen.get('accepted')).toBeUndefined();
    expect(seen.get(ProtocolErrorCode.envelopeAuthFailed)).toBeGreaterThan(envelope.byteLength * 2);
  });

  it('rejects a message moved to another node or another channel', () => {
    const envelope = sealed('n1', 'cmd', runCommand);
    expect(codeOf(() => openMessage(topics, topics.node('n2', 'cmd'), envelope, options))).toBe(
      ProtocolErrorCode.envelopeAuthFailed,
    );
    // Even when the receiver uses n1's key for n2's topic, the topic in the additional data differs.
    expect(codeOf(() => openEnvelope(topics.node('n2', 'cmd'), envelope, () => nodeKey('n1')))).toBe(
      ProtocolErrorCode.envelopeAuthFailed,
    );
    const event = sealed('n1', 'evt', { kind: 'accepted', runId: runCommand.runId });
    expect(codeOf(() => openMessage(topics, topics.node('n1', 'cmd'), event, options))).toBe(
      ProtocolErrorCode.envelopeAuthFailed,
    );
  });

  it('rejects a message sealed under another node key', () => {
    const topic = topics.node('n1', 'cmd');
    const forged = sealMessage(topic, runCommand, { keyId: 0, key: nodeKey('n2') }, { nowMs: NOW });
    expect(codeOf(() => openMessage(topics, topic, forged, options))).toBe(ProtocolErrorCode.envelopeAuthFailed);
  });

  it('rejects an unknown key id', () => {
    const topic = topics.node('n1', 'cmd');
    const envelope = sealMessage(topic, runCommand, { keyId: 9, key: nodeKey('n1', 9) }, { nowMs: NOW });
    expect(codeOf(() => openMessage(topics, topic, envelope, options))).toBe(ProtocolErrorCode.envelopeUnknownKey);
  });

  it('opens a message under an older epoch the receiver still holds', () => {
    const topic = topics.node('n1', 'cmd');
    const envelope = sealMessage(topic, runCommand, { keyId: 2, key: nodeKey('n1', 2) }, { nowMs: NOW });
    expect(openMessage(topics, topic, envelope, options).header.keyId).toBe(2);
  });

  it('rejects stale and future commands, at the edge of the window exactly', () => {
    const topic = topics.node('n1', 'cmd');
    const at = (sentAt: number): string | undefined =>
      codeOf(() => openMessage(topics, topic, sealed('n1', 'cmd', runCommand, sentAt), options));
    expect(at(NOW - DEFAULT_MAX_CLOCK_SKEW_MS)).toBeUndefined();
    expect(at(NOW + DEFAULT_MAX_CLOCK_SKEW_MS)).toBeUndefined();
    expect(at(NOW - DEFAULT_MAX_CLOCK_SKEW_MS - 1)).toBe(ProtocolErrorCode.commandStale);
    expect(at(NOW + DEFAULT_MAX_CLOCK_SKEW_MS + 1)).toBe(ProtocolErrorCode.commandFromFuture);
    expect(at(0)).toBe(ProtocolErrorCode.commandStale);
    expect(codeOf(() => checkFreshness(NOW - 11, NOW, 10))).toBe(ProtocolErrorCode.commandStale);
  });

  it('holds events and retained state to no clock window', () => {
    const event = sealed('n1', 'evt', { kind: 'accepted', runId: runCommand.runId }, NOW - 7 * 86_400_000);
    expect(openMessage(topics, topics.node('n1', 'evt'), event, options).message.kind).toBe('accepted');
  });

  it('rejects a well-sealed body that fails its channel schema, naming the field', () => {
    const topic = topics.node('n1', 'cmd');
    const bad = { ...runCommand, spec: { ...runCommand.spec, timeoutMs: -1 } };
    let message = '';
    try {
      openMessage(topics, topic, sealMessage(topic, bad, { keyId: 0, key: nodeKey('n1') }, { nowMs: NOW }), options);
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      if (err instanceof ProtocolError) {
        expect(err.code).toBe(ProtocolErrorCode.bodyInvalid);
        message = err.message;
      }
    }
    expect(message).toContain('spec.timeoutMs');
    // An event kind on the command channel is refused by the command schema.
    const misfiled = sealEnvelope(
      topic,
      encodeBody({ kind: 'accepted', runId: runCommand.runId }),
      {
        keyId: 0,
        key: nodeKey('n1'),
      },
      { nowMs: NOW },
    );
    expect(codeOf(() => openMessage(topics, topic, misfiled, options))).toBe(ProtocolErrorCode.bodyInvalid);
  });

  it('rejects malformed bodies under a valid seal', () => {
    const topic = topics.node('n1', 'evt');
    const seal = (body: Uint8Array): Buffer => sealEnvelope(topic, body, { keyId: 0, key: nodeKey('n1') });
    const len = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    for (const body of [
      Buffer.alloc(0),
      Buffer.from([0, 0]),
      Buffer.concat([len(100), Buffer.from('{}')]),
      Buffer.concat([len(3), Buffer.from('{x}')]),
      Buffer.concat([len(2), Buffer.from('[]')]),
      Buffer.concat([len(4), Buffer.from('null')]),
      Buffer.concat([len(2), Buffer.from([0xc3, 0x28])]),
      Buffer.concat([len(10), Buffer.from('{"data":1}'), Buffer.from([1])]),
    ]) {
      expect(
        codeOf(() => openMessage(topics, topic, seal(body), options)),
        body.toString('hex'),
      ).toBe(ProtocolErrorCode.bodyMalformed);
    }
  });

  it('rejects envelopes that are too short or too large before any crypto', () => {
    const topic = topics.node('n1', 'evt');
    expect(codeOf(() => openMessage(topics, topic, Buffer.alloc(MIN_ENVELOPE_BYTES - 1, 1), options))).toBe(
      ProtocolErrorCode.envelopeTooShort,
    );
    const huge = Buffer.alloc(limits.envelopeMaxBytes + 1);
    huge[0] = 1;
    expect(codeOf(() => openMessage(topics, topic, huge, options))).toBe(ProtocolErrorCode.envelopeTooLarge);
  });

  it('rejects an output chunk over the chunk limit', () => {
    const topic = topics.node('n1', 'evt');
    const message: Message = {
      kind: 'output',
      runId: runCommand.runId,
      seq: 0,
      stream: 'stdout',
      data: new Uint8Array(limits.chunkMaxBytes + 1),
    };
    expect(codeOf(() => openMessage(topics, topic, sealed('n1', 'evt', message), options))).toBe(
      ProtocolErrorCode.bodyInvalid,
    );
  });

  it('derives distinct keys per node and per epoch, and needs a full-size secret', () => {
    const keys = new Set([nodeKey('a'), nodeKey('b'), nodeKey('a', 1)].map((k) => k.toString('hex')));
    expect(keys.size).toBe(3);
    expect(() => deriveNodeKey(Buffer.alloc(16), 'a', 0)).toThrow(RangeError);
    expect(codeOf(() => deriveNodeKey(secret, 'A', 0))).toBe(ProtocolErrorCode.nodeIdInvalid);
  });

  it('throws only ProtocolErrors for 10,000 random and mutated buffers', () => {
    const valid = [
      sealed('n1', 'cmd', runCommand),
      sealed('n1', 'evt', {
        kind: 'output',
        runId: runCommand.runId,
        seq: 1,
        stream: 'stdout',
        data: new Uint8Array(100),
      }),
      sealed('n1', 'state', { kind: 'state', online: true, connectionSeq: 1, beat: 2 }),
    ];
    const channelTopics = ['cmd', 'evt', 'state'].map((c) => `edgestelle/v1/nodes/n1/${c}`);
    const mutated = fc
      .tuple(
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
      )
      .map(([which, edits, cut]) => {
        const buf = Buffer.from(valid[which] ?? Buffer.alloc(0));
        for (const [pos, value] of edits) buf[pos % buf.byteLength] = value;
        return {
          topic: channelTopics[which] ?? '',
          payload: cut === undefined ? buf : buf.subarray(0, cut % buf.byteLength),
        };
      });
    const random = fc.record({
      topic: fc.oneof(fc.constantFrom(...channelTopics), fc.string()),
      payload: fc.uint8Array({ maxLength: 2048 }).map((a) => {
        // Give most random buffers a valid version byte so they reach the crypto and body checks.
        if (a.byteLength > 0 && a[0] !== 1 && (a[a.byteLength - 1] ?? 0) % 4 !== 0) a[0] = 1;
        return a;
      }),
    });
    let rejected = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, random), ({ topic, payload }) => {
        try {
          openMessage(topics, topic, payload, options);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          rejected += 1;
          return;
        }
        // Only an unaltered envelope on its own topic may open (an edit can write the same byte back).
        const original = valid[channelTopics.indexOf(topic)];
        expect(original !== undefined && Buffer.from(payload).equals(original)).toBe(true);
      }),
      { numRuns: 10_000 },
    );
    expect(rejected).toBeGreaterThan(9_000);
  });
});

describe('body codec', () => {
  it('carries data bytes outside the JSON, unchanged', () => {
    const data = new Uint8Array(256).map((_, i) => i);
    const body = encodeBody({ kind: 'output', runId: 'x', seq: 0, stream: 'stdout', data });
    expect(body.byteLength).toBeLessThan(4 + 80 + 256);
    expect(decodeBody(body)).toEqual({ kind: 'output', runId: 'x', seq: 0, stream: 'stdout', data: data });
  });
});

describe('test vectors (test-vectors/v1.json)', () => {
  const vectorFileSchema = z.object({
    vectors: z.array(
      z.object({
        name: z.string(),
        masterSecretHex: z.string(),
        nodeId: z.string(),
        epoch: z.number(),
        nodeKeyHex: z.string(),
        topic: z.string(),
        messageIdHex: z.string(),
        nonceHex: z.string(),
        sentAtMs: z.number(),
        messageJson: z.record(z.string(), z.unknown()),
        dataHex: z.string().nullable(),
        bodyHex: z.string(),
        envelopeHex: z.string(),
      }),
    ),
  });
  const file = vectorFileSchema.parse(
    JSON.parse(readFileSync(new URL('../test-vectors/v1.json', import.meta.url), 'utf8')),
  );

  it.each(file.vectors.map((v) => [v.name, v] as const))('%s: seals to the exact bytes and opens back', (_name, v) => {
    const key = deriveNodeKey(Buffer.from(v.masterSecretHex, 'hex'), v.nodeId, v.epoch);
    expect(key.toString('hex')).toBe(v.nodeKeyHex);
    const message = { ...v.messageJson, ...(v.dataHex === null ? {} : { data: Buffer.from(v.dataHex, 'hex') }) };
    const body = encodeBody(message);
    expect(Buffer.from(body).toString('hex')).toBe(v.bodyHex);
    const envelope = sealEnvelope(
      v.topic,
      body,
      { keyId: v.epoch, key },
      {
        nowMs: v.sentAtMs,
        messageId: Buffer.from(v.messageIdHex, 'hex'),
        nonce: Buffer.from(v.nonceHex, 'hex'),
      },
    );
    expect(envelope.toString('hex')).toBe(v.envelopeHex);
    expect(envelope.subarray(0, HEADER_BYTES).toString('hex')).toBe(v.envelopeHex.slice(0, HEADER_BYTES * 2));
    const opened = openMessage(topics, v.topic, Buffer.from(v.envelopeHex, 'hex'), {
      keyFor: (_nodeId, keyId) => (keyId === v.epoch ? key : undefined),
      nowMs: v.sentAtMs,
    });
    expect(opened.message).toEqual(message);
  });
});
