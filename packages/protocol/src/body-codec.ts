import { ProtocolError, ProtocolErrorCode } from './errors.ts';

/**
 * The plaintext inside an envelope: a 4-byte big-endian length, that many bytes of UTF-8
 * JSON, then the message's raw `data` bytes (output chunks only). Output stays bytes end to
 * end: no base64, no re-encoding, so a 32 KiB chunk costs 32 KiB on the wire, not 43.
 */
const LENGTH_BYTES = 4;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeBody(message: object): Uint8Array {
  const data = 'data' in message && message.data instanceof Uint8Array ? message.data : undefined;
  // JSON.stringify leaves out keys whose value is undefined: the bytes travel as the tail.
  const json = encoder.encode(JSON.stringify(data === undefined ? message : { ...message, data: undefined }));
  const tail = data ?? new Uint8Array(0);
  const body = new Uint8Array(LENGTH_BYTES + json.byteLength + tail.byteLength);
  new DataView(body.buffer).setUint32(0, json.byteLength);
  body.set(json, LENGTH_BYTES);
  body.set(tail, LENGTH_BYTES + json.byteLength);
  return body;
}

/** Returns the decoded JSON object (with `data` attached when bytes follow) for a schema to check. */
export function decodeBody(body: Uint8Array): unknown {
  if (body.byteLength < LENGTH_BYTES) {
    throw new ProtocolError(ProtocolErrorCode.bodyMalformed, 'message body is shorter than its length field');
  }
  const jsonLength = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
  if (jsonLength > body.byteLength - LENGTH_BYTES) {
    throw new ProtocolError(ProtocolErrorCode.bodyMalformed, 'message body length field exceeds the body');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(body.subarray(LENGTH_BYTES, LENGTH_BYTES + jsonLength)));
  } catch (cause) {
    throw new ProtocolError(ProtocolErrorCode.bodyMalformed, 'message body is not UTF-8 JSON', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ProtocolError(ProtocolErrorCode.bodyMalformed, 'message body is not a JSON object');
  }
  const tail = body.subarray(LENGTH_BYTES + jsonLength);
  if (tail.byteLength === 0) return parsed;
  if ('data' in parsed) {
    throw new ProtocolError(ProtocolErrorCode.bodyMalformed, 'message body has data both in JSON and as bytes');
  }
  return { ...parsed, data: tail };
}
