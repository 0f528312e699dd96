/**
 * Time-sortable ids for jobs, runs and messages: 10 characters of millisecond time and 16 of
 * randomness in lowercase Crockford base32 (26 characters, like a ULID), so ids sort by
 * creation time as strings and are safe in topics, URLs and file names.
 * Uses Web Crypto, so the same code runs in Node and in the browser.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

export const ID_PATTERN = /^[0-9abcdefghjkmnpqrstvwxyz]{26}$/;

export function newId(nowMs: number = Date.now()): string {
  let time = '';
  let t = Math.floor(nowMs);
  for (let i = 0; i < TIME_CHARS; i += 1) {
    time = ALPHABET.charAt(t % 32) + time;
    t = Math.floor(t / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(RANDOM_CHARS));
  let tail = '';
  for (const byte of random) tail += ALPHABET.charAt(byte % 32);
  return time + tail;
}

/** The creation time encoded in an id made by {@link newId}. */
export function idTimeMs(id: string): number {
  let t = 0;
  for (const char of id.slice(0, TIME_CHARS)) t = t * 32 + ALPHABET.indexOf(char);
  return t;
}
