import * as z from 'zod';
import { epochMsSchema } from './messages.ts';

/**
 * Rollouts in waves (Ansible's `serial: [1, "10%", "100%"]` with `max_fail_percentage`): a
 * job's nodes, in node-id order, are split into waves given as cumulative sizes; between two
 * waves a gate waits until every run of the wave ended, then continues if the wave's failure
 * rate is within the limit, after a pause, or only once an operator approves.
 */

/** A wave's cumulative size: this many nodes, or this share of the job's nodes (rounded up). */
export const waveSizeSchema = z.union([
  z.object({ count: z.number().int().min(1).max(1_000_000) }).strict(),
  z.object({ percent: z.number().gt(0).max(100) }).strict(),
]);
export type WaveSize = z.infer<typeof waveSizeSchema>;

export const WAVES_MAX = 100;
/** The longest pause between two waves: a week. */
export const WAVE_PAUSE_MAX_MS = 7 * 86_400_000;

/** Why a list of wave sizes cannot be a rollout, or null: the message names the wave (1-based). */
export function wavesProblem(waves: readonly WaveSize[]): string | null {
  if (waves.length === 0) return 'give at least one wave';
  if (waves.length > WAVES_MAX) return `at most ${WAVES_MAX} waves`;
  for (let i = 1; i < waves.length; i += 1) {
    const [before, wave] = [waves[i - 1], waves[i]];
    if (before === undefined || wave === undefined) continue;
    // Sizes are cumulative, so a wave of the same kind must be bigger than the one before it
    // (a count after a percentage depends on the node count and is clamped instead).
    const shrinks =
      ('count' in before && 'count' in wave && wave.count <= before.count) ||
      ('percent' in before && 'percent' in wave && wave.percent <= before.percent);
    if (shrinks) {
      return `wave ${i + 1} (${formatWaveSize(wave)}) must be larger than wave ${i} (${formatWaveSize(before)}): sizes are cumulative`;
    }
  }
  const last = waves.at(-1);
  if (last !== undefined && 'percent' in last && last.percent !== 100) {
    return `the last wave must cover every target: end with 100% (not ${formatWaveSize(last)})`;
  }
  return null;
}

/** `1`, `10%`. */
export function formatWaveSize(wave: WaveSize): string {
  return 'count' in wave ? String(wave.count) : `${wave.percent}%`;
}

/**
 * Parses `1,10%,100%` (the CLI's `--waves`, the console's field): counts and percentages,
 * comma-separated, cumulative. Returns the sizes or a message saying what is wrong.
 */
export function parseWaveList(text: string): WaveSize[] | string {
  const parts = text.split(',').map((part) => part.trim());
  const waves: WaveSize[] = [];
  for (const part of parts) {
    const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(part);
    const parsed =
      match === null
        ? undefined
        : waveSizeSchema.safeParse(match[2] === '%' ? { percent: Number(match[1]) } : { count: Number(match[1]) });
    if (parsed === undefined || !parsed.success) {
      return `'${part}' is not a wave size: give a count of nodes (1 or more) or a percentage (like 10%, over 0 and up to 100)`;
    }
    waves.push(parsed.data);
  }
  return wavesProblem(waves) ?? waves;
}

/**
 * Where each wave ends in the job's node list (cumulative, 1-based): each wave takes at least
 * one node more than the one before, so a small fleet may have fewer waves than were asked
 * for; none is empty. A last wave given as a count smaller than the node count leaves nodes
 * out; {@link waveEnds} returns them as they fall and the caller refuses such a plan.
 */
export function waveEnds(waves: readonly WaveSize[], nodeCount: number): number[] {
  const ends: number[] = [];
  let previous = 0;
  for (const wave of waves) {
    if (previous >= nodeCount) break;
    // The epsilon keeps 7% of 100 at 7 although 0.07 * 100 is 7.000000000000001.
    const wanted = 'count' in wave ? wave.count : Math.ceil((wave.percent * nodeCount) / 100 - 1e-9);
    const end = Math.min(nodeCount, Math.max(previous + 1, wanted));
    ends.push(end);
    previous = end;
  }
  return ends;
}

/** `POST /api/v1/jobs` `rollout`: the waves and their gate (one gate, after every wave but the last). */
export const rolloutCreateSchema = z
  .object({
    waves: z.array(waveSizeSchema).min(1).max(WAVES_MAX),
    /** A wave passes its gate if at most this percentage of its runs failed (failed, timed out, interrupted, rejected, expired). */
    maxFailureRate: z.number().min(0).max(100).default(0),
    /** How long to wait after a wave passed before the next one starts, in ms. */
    wavePauseMs: z.number().int().min(0).max(WAVE_PAUSE_MAX_MS).default(0),
    /** Pause the job at every gate until an operator resumes it (`POST /jobs/{id}/resume`). */
    approve: z.boolean().default(false),
  })
  .strict()
  .superRefine((rollout, ctx) => {
    // The array's own bounds already speak for an empty or too long list.
    const problem = rollout.waves.length === 0 ? null : wavesProblem(rollout.waves);
    if (problem !== null) ctx.addIssue({ code: 'custom', path: ['waves'], message: problem });
    // A gate either waits for a time or for a person; an approval after a timed pause would
    // only make the operator wait for the clock as well.
    if (rollout.approve && rollout.wavePauseMs > 0) {
      ctx.addIssue({ code: 'custom', path: ['wavePauseMs'], message: 'give a wave pause or approve, not both' });
    }
  });
export type RolloutCreate = z.input<typeof rolloutCreateSchema>;

/**
 * A wave's state: `pending` (not started), `running`, `gate` (ended; held at its gate by a
 * pause, an approval or its failure rate), `passed` (its gate let the next wave go, or the
 * last wave ended), `skipped` (the job ended before it ran; its runs are `not_started`).
 */
export const waveStates = ['pending', 'running', 'gate', 'passed', 'skipped'] as const;
export const waveStateSchema = z.enum(waveStates);
export type WaveState = z.infer<typeof waveStateSchema>;

export const waveDtoSchema = z.object({
  /** 1 for the first wave. */
  wave: z.number().int().min(1),
  /** Its own nodes (not cumulative). */
  size: z.number().int().min(1),
  state: waveStateSchema,
  /** Runs in a terminal state, and of those the failed ones (as the gate counts them). */
  ended: z.number().int().min(0),
  failed: z.number().int().min(0),
});
export type WaveDto = z.infer<typeof waveDtoSchema>;

export const rolloutDtoSchema = z.object({
  waves: z.array(waveSizeSchema),
  maxFailureRate: z.number(),
  wavePauseMs: z.number().int(),
  approve: z.boolean(),
  /** The last wave released (1-based): its runs and those before may start. */
  current: z.number().int().min(1),
  /** While a wave pause runs: when the next wave starts. */
  nextWaveAt: epochMsSchema.nullable(),
  plan: z.array(waveDtoSchema),
});
export type RolloutDto = z.infer<typeof rolloutDtoSchema>;
