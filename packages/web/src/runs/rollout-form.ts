import { parseWaveList, type RolloutCreate } from '@edgestelle/protocol';

/** The Run form's rollout fields as typed. */
export interface RolloutDraft {
  /** `1,10%,100%`; empty: every node at once. */
  waves: string;
  maxFailureRate: number;
  wavePauseSec: number;
  approve: boolean;
}

export function emptyRolloutDraft(): RolloutDraft {
  return { waves: '', maxFailureRate: 0, wavePauseSec: 0, approve: false };
}

/**
 * The job's `rollout` from the fields: undefined without waves, or a problem to show (the same
 * words the CLI and the API use for a wave list that is not a rollout).
 */
export function buildRollout(draft: RolloutDraft, bothGates: string): RolloutCreate | undefined | { problem: string } {
  if (draft.waves.trim() === '') return undefined;
  const waves = parseWaveList(draft.waves);
  if (typeof waves === 'string') return { problem: waves };
  if (draft.approve && draft.wavePauseSec > 0) return { problem: bothGates };
  return {
    waves,
    maxFailureRate: draft.maxFailureRate,
    ...(draft.wavePauseSec > 0 ? { wavePauseMs: Math.round(draft.wavePauseSec * 1000) } : {}),
    ...(draft.approve ? { approve: true } : {}),
  };
}
