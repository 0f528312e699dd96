/**
 * Seal + open throughput of the v1 envelope for a 200-byte and a 32 KiB output chunk, and the
 * same messages in the alternative we measured it against: a JSON envelope with base64 fields
 * (what a first version would write). Prints a table; medians of 5 rounds of about 1 s.
 * Run: npm run bench -w packages/protocol   (add -- --seconds 0.2 for a quick smoke)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { deriveNodeKey, generateMasterSecret, openMessage, sealMessage } from '../src/envelope.ts';
import { newId } from '../src/ids.ts';
import type { OutputEvent } from '../src/messages.ts';
import { Topics } from '../src/topics.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' } } });
const roundMs = Number(values.seconds) * 1000;
const ROUNDS = 5;

const topics = new Topics();
const topic = topics.node('bench-node', 'evt');
const key = deriveNodeKey(generateMasterSecret(), 'bench-node', 0);
const sealingKey = { keyId: 0, key };
const keyFor = (): Buffer => key;

function chunk(bytes: number): OutputEvent {
  return { kind: 'output', runId: newId(), seq: 1, stream: 'stdout', data: randomBytes(bytes) };
}

function viaEnvelope(message: OutputEvent): number {
  const sealed = sealMessage(topic, message, sealingKey);
  openMessage(topics, topic, sealed, { keyFor });
  return sealed.byteLength;
}

/** The JSON alternative: header fields and base64 ciphertext in one JSON object, data base64 inside. */
function viaJson(message: OutputEvent): number {
  const nonce = randomBytes(12);
  const header = { v: 1, k: 0, m: randomBytes(16).toString('hex'), t: Date.now() };
  const aad = Buffer.from(JSON.stringify(header) + topic);
  const cipher = createCipheriv('aes-256-gcm', key, nonce).setAAD(aad);
  const plain = Buffer.from(JSON.stringify({ ...message, data: Buffer.from(message.data).toString('base64') }));
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  const wire = Buffer.from(
    JSON.stringify({
      ...header,
      n: nonce.toString('base64'),
      c: ct.toString('base64'),
      g: cipher.getAuthTag().toString('base64'),
    }),
  );
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- the alternative is timed without a schema pass, as its first version would run
  const parsed: { v: number; k: number; m: string; t: number; n: string; c: string; g: string } = JSON.parse(
    wire.toString(),
  );
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(parsed.n, 'base64'))
    .setAAD(Buffer.from(JSON.stringify({ v: parsed.v, k: parsed.k, m: parsed.m, t: parsed.t }) + topic))
    .setAuthTag(Buffer.from(parsed.g, 'base64'));
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- as above
  const body: { data: string } = JSON.parse(
    Buffer.concat([decipher.update(Buffer.from(parsed.c, 'base64')), decipher.final()]).toString(),
  );
  Buffer.from(body.data, 'base64');
  return wire.byteLength;
}

function measure(fn: (m: OutputEvent) => number, message: OutputEvent): { perSec: number; wireBytes: number } {
  const rates: number[] = [];
  let wireBytes = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < roundMs) {
      for (let i = 0; i < 50; i += 1) wireBytes = fn(message);
      n += 50;
    }
    rates.push(n / ((performance.now() - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  return { perSec: rates[Math.floor(ROUNDS / 2)] ?? 0, wireBytes };
}

const rows = [];
for (const size of [200, 32 * 1024]) {
  const message = chunk(size);
  const envelope = measure(viaEnvelope, message);
  const json = measure(viaJson, message);
  rows.push({
    body: size === 200 ? '200 B' : '32 KiB',
    'v1 seal+open msg/s': Math.round(envelope.perSec),
    'v1 MB/s': +((envelope.perSec * size) / 1e6).toFixed(1),
    'v1 wire bytes': envelope.wireBytes,
    'JSON+base64 msg/s': Math.round(json.perSec),
    'JSON+base64 wire bytes': json.wireBytes,
    'v1 / JSON speed': +(envelope.perSec / json.perSec).toFixed(2),
  });
}
console.log(`node ${process.version}, ${ROUNDS} rounds of ${roundMs} ms, median`);
console.table(rows);
