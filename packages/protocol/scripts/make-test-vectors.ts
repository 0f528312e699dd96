/**
 * Writes test-vectors/v1.json: fixed secret, node, epoch, message id, nonce, time, topic and
 * message → the exact body and envelope bytes; node key, join token and time → the exact
 * enrollment proof. Another implementation checks itself against
 * the file; envelope.test.ts checks this one. Run: npx tsx --conditions=source scripts/make-test-vectors.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deriveNodeKey, encodeBody, sealEnvelope, signEnrollProof } from '../src/envelope.ts';
import type { Message } from '../src/messages.ts';
import { Topics } from '../src/topics.ts';

const masterSecret = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const topics = new Topics('edgestelle');
const nodeId = 'edge-node-01';
const runId = '01jf0000000000000000000000';
const jobId = '01jf0000000000000000000001';

const sessionId = '01jf0000000000000000000002';

const cases: { name: string; channel: 'cmd' | 'evt' | 'state' | 'shell'; epoch: number; message: Message }[] = [
  {
    name: 'run command, one-line command',
    channel: 'cmd',
    epoch: 0,
    message: {
      kind: 'run',
      runId,
      jobId,
      deadlineAt: 1767225600000,
      spec: { command: 'uname -a', args: [], env: {}, timeoutMs: 30000, killGraceMs: 5000, pty: false },
    },
  },
  {
    name: 'output chunk with raw bytes (ANSI colour, invalid UTF-8)',
    channel: 'evt',
    epoch: 0,
    message: {
      kind: 'output',
      runId,
      seq: 7,
      stream: 'stdout',
      data: new Uint8Array([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x68, 0x69, 0x1b, 0x5b, 0x30, 0x6d, 0x0a, 0xff, 0xfe]),
    },
  },
  {
    name: 'ack of two runs, key epoch 3',
    channel: 'cmd',
    epoch: 3,
    message: {
      kind: 'ack',
      runs: [
        { runId, seq: 7 },
        { runId: jobId, seq: 0 },
      ],
    },
  },
  {
    name: 'retained state, offline (the will)',
    channel: 'state',
    epoch: 0,
    message: { kind: 'state', online: false, connectionSeq: 42, beat: 0 },
  },
  {
    name: 'shell session open, a command on an 80x24 terminal',
    channel: 'cmd',
    epoch: 0,
    message: {
      kind: 'shell_open',
      sessionId,
      command: 'top',
      cols: 80,
      rows: 24,
      term: 'xterm-256color',
      deadlineAt: 1767225610000,
    },
  },
  {
    name: 'shell keystrokes: Ctrl-C then an arrow key',
    channel: 'cmd',
    epoch: 0,
    message: { kind: 'shell_input', sessionId, seq: 3, data: new Uint8Array([0x03, 0x1b, 0x5b, 0x41]) },
  },
  {
    name: 'shell window resize',
    channel: 'cmd',
    epoch: 0,
    message: { kind: 'shell_resize', sessionId, seq: 4, cols: 132, rows: 43 },
  },
  {
    name: 'shell output on the shell topic',
    channel: 'shell',
    epoch: 0,
    message: {
      kind: 'shell_output',
      sessionId,
      seq: 0,
      data: new Uint8Array([0x1b, 0x5b, 0x32, 0x4a, 0x24, 0x20]),
    },
  },
  {
    name: 'shell exit after 12 output messages',
    channel: 'shell',
    epoch: 0,
    message: { kind: 'shell_exit', sessionId, seq: 12, exitCode: 130, signal: null },
  },
];

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const vectors = cases.map((c, i) => {
  const nodeKey = deriveNodeKey(masterSecret, nodeId, c.epoch);
  const topic = topics.node(nodeId, c.channel);
  const messageId = Buffer.alloc(16, i + 1);
  const nonce = Buffer.from(`0000000000000000000000${(i + 1).toString(16).padStart(2, '0')}`, 'hex');
  const sentAtMs = 1767225600000 + i;
  const body = encodeBody(c.message);
  const envelope = sealEnvelope(topic, body, { keyId: c.epoch, key: nodeKey }, { nowMs: sentAtMs, messageId, nonce });
  const data = 'data' in c.message ? c.message.data : undefined;
  const json: unknown = JSON.parse(JSON.stringify({ ...c.message, data: undefined }));
  return {
    name: c.name,
    masterSecretHex: hex(masterSecret),
    nodeId,
    epoch: c.epoch,
    nodeKeyHex: hex(nodeKey),
    topic,
    messageIdHex: hex(messageId),
    nonceHex: hex(nonce),
    sentAtMs,
    messageJson: json,
    dataHex: data === undefined ? null : hex(data),
    bodyHex: hex(body),
    envelopeHex: hex(envelope),
  };
});

const enrollProofs = [
  { name: 'first key', epoch: 0, joinToken: 'esj_test-vector-token', sentAtMs: 1767225600000 },
  { name: 'key epoch 3, a later time', epoch: 3, joinToken: 'esj_another-token', sentAtMs: 1767225661234 },
].map((c) => {
  const nodeKey = deriveNodeKey(masterSecret, nodeId, c.epoch);
  const fields = { nodeId, keyId: c.epoch, joinToken: c.joinToken, sentAtMs: c.sentAtMs };
  return { name: c.name, nodeKeyHex: hex(nodeKey), ...fields, mac: signEnrollProof(nodeKey, fields) };
});

const out = fileURLToPath(new URL('../test-vectors/v1.json', import.meta.url));
writeFileSync(out, `${JSON.stringify({ version: 1, vectors, enrollProofs }, null, 2)}\n`);
console.log(`wrote ${vectors.length} envelope and ${enrollProofs.length} enrollment proof vectors to ${out}`);
