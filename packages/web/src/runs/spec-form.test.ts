import { describe, expect, it } from 'vitest';
import { checkSpecFields } from './spec-form.ts';

describe('checkSpecFields', () => {
  it('leaves empty fields out, so the node defaults hold', () => {
    expect(checkSpecFields({ cwd: ' ', argsText: '\n\n', pty: false, mergeStderr: false })).toEqual({
      spec: {},
      problem: null,
    });
  });

  it('takes an absolute cwd, one argument a line kept literally, and the PTY switch', () => {
    expect(
      checkSpecFields({ cwd: '/srv/app', argsText: 'first arg\n"quoted"\n\n$HOME\n', pty: true, mergeStderr: true }),
    ).toEqual({
      spec: { cwd: '/srv/app', args: ['first arg', '"quoted"', '$HOME'], pty: true, mergeStderr: true },
      problem: null,
    });
  });

  it('names a relative cwd and too many arguments', () => {
    expect(checkSpecFields({ cwd: 'srv', argsText: '', pty: false, mergeStderr: false }).problem).toEqual({
      kind: 'cwdNotAbsolute',
    });
    const many = Array.from({ length: 257 }, (_, i) => `a${i}`).join('\n');
    expect(checkSpecFields({ cwd: '', argsText: many, pty: false, mergeStderr: false }).problem).toEqual({
      kind: 'tooManyArgs',
      limit: 256,
    });
  });
});
