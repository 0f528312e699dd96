import { randomBytes } from 'node:crypto';
import { limits, newId } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { MasterError, MasterErrorCode } from '../errors.ts';
import { SecretEnvBox } from './secret-env.ts';

const masterSecret = randomBytes(32);
const env = { DB_PASSWORD: 'correct horse battery staple', API_TOKEN: 'tok_0123456789' };

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (err) {
    if (err instanceof MasterError) return err.code;
    throw err;
  }
  throw new Error('expected a MasterError');
}

describe('SecretEnvBox', () => {
  it('opens what it sealed for the same job, and the sealed bytes hold no value in the clear', () => {
    const box = new SecretEnvBox(masterSecret);
    const jobId = newId();
    const sealed = box.seal(jobId, env);
    for (const value of Object.values(env)) expect(sealed.includes(Buffer.from(value))).toBe(false);
    expect(box.open(jobId, sealed)).toEqual(env);
    // Another master holding the same secret opens it too (several masters on one PostgreSQL).
    expect(new SecretEnvBox(Buffer.from(masterSecret)).open(jobId, sealed)).toEqual(env);
  });

  it('refuses a blob moved to another job, altered, or sealed under another master secret', () => {
    const box = new SecretEnvBox(masterSecret);
    const jobId = newId();
    const sealed = box.seal(jobId, env);
    expect(codeOf(() => box.open(newId(), sealed))).toBe(MasterErrorCode.internal);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 20] = (flipped[flipped.length - 20] ?? 0) ^ 1;
    expect(codeOf(() => box.open(jobId, flipped))).toBe(MasterErrorCode.internal);
    expect(codeOf(() => new SecretEnvBox(randomBytes(32)).open(jobId, sealed))).toBe(MasterErrorCode.internal);
  });

  it('refuses values that could never fit in a run command', () => {
    const box = new SecretEnvBox(masterSecret);
    const big: Record<string, string> = {};
    for (let i = 0; i < 80; i += 1) big[`V${i}`] = 'x'.repeat(limits.envValueMaxChars);
    expect(codeOf(() => box.seal(newId(), big))).toBe(MasterErrorCode.invalidRequest);
  });
});
