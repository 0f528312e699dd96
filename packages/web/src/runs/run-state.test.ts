import { runStates } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { describeSpec, isCancellable, isFailedState, stateTone } from './run-state.ts';

describe('run states in the console', () => {
  it('gives every state a tone, and only unfinished runs a cancel', () => {
    for (const state of runStates) expect(stateTone[state]).toBeDefined();
    expect(isCancellable('running')).toBe(true);
    expect(isCancellable('queued')).toBe(true);
    expect(isCancellable('succeeded')).toBe(false);
    expect(isFailedState('timed_out')).toBe(true);
    expect(isFailedState('cancelled')).toBe(false);
  });

  it('describes a job by its command or the first line of its script', () => {
    expect(describeSpec({ command: 'uname -a' })).toBe('uname -a');
    expect(describeSpec({ script: { interpreter: 'bash', body: '#!/bin/bash\n\n  apt-get update\nreboot' } })).toBe(
      'bash: apt-get update',
    );
  });
});
