import { runStates } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { canTransition, isTerminalRunState } from './run-state.ts';

describe('run state machine', () => {
  it('never leaves a terminal state', () => {
    for (const from of runStates.filter(isTerminalRunState)) {
      for (const to of runStates) expect(canTransition(from, to)).toBe(false);
    }
  });

  it('walks the happy path and refuses going back', () => {
    expect(canTransition('queued', 'sent')).toBe(true);
    expect(canTransition('sent', 'accepted')).toBe(true);
    expect(canTransition('accepted', 'running')).toBe(true);
    expect(canTransition('running', 'succeeded')).toBe(true);
    expect(canTransition('running', 'accepted')).toBe(false);
    expect(canTransition('running', 'queued')).toBe(false);
    expect(canTransition('queued', 'running')).toBe(false);
  });

  it('takes a refusal after acceptance (the process could not be started) but not after it ran', () => {
    expect(canTransition('accepted', 'rejected')).toBe(true);
    expect(canTransition('running', 'rejected')).toBe(false);
  });
});
