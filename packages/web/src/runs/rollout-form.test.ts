import { describe, expect, it } from 'vitest';
import { buildRollout, emptyRolloutDraft } from './rollout-form.ts';

describe('the Run form’s rollout fields', () => {
  const both = 'not both';

  it('make no rollout while the waves are empty', () => {
    expect(buildRollout({ ...emptyRolloutDraft(), approve: true }, both)).toBeUndefined();
  });

  it('make the job’s rollout from the waves and the gate', () => {
    expect(buildRollout({ waves: '1, 10%,100%', maxFailureRate: 5, wavePauseSec: 30, approve: false }, both)).toEqual({
      waves: [{ count: 1 }, { percent: 10 }, { percent: 100 }],
      maxFailureRate: 5,
      wavePauseMs: 30_000,
    });
    expect(buildRollout({ waves: '2,100%', maxFailureRate: 0, wavePauseSec: 0, approve: true }, both)).toEqual({
      waves: [{ count: 2 }, { percent: 100 }],
      maxFailureRate: 0,
      approve: true,
    });
  });

  it('say what is wrong instead', () => {
    expect(buildRollout({ ...emptyRolloutDraft(), waves: '1,50%' }, both)).toEqual({
      problem: 'the last wave must cover every target: end with 100% (not 50%)',
    });
    expect(buildRollout({ waves: '1,100%', maxFailureRate: 0, wavePauseSec: 5, approve: true }, both)).toEqual({
      problem: both,
    });
  });
});
