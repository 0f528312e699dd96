import { formatWaveSize, type JobDto, type RolloutDto } from '@edgestelle/protocol';
import { formatDuration } from './format.ts';

/** `wave 2/3`: where a rollout stands, for the progress line. */
export function formatWavePosition(rollout: RolloutDto): string {
  return `wave ${rollout.current}/${rollout.plan.length}`;
}

/** `1 · 50% · 100%, gate: at most 25% failed, then approval`. */
export function formatRolloutPlan(rollout: RolloutDto): string {
  const gate = [`at most ${rollout.maxFailureRate}% failed`];
  if (rollout.approve) gate.push('then approval');
  if (rollout.wavePauseMs > 0) gate.push(`then a ${formatDuration(rollout.wavePauseMs)} pause`);
  return `${rollout.waves.map(formatWaveSize).join(' · ')}, gate: ${gate.join(', ')}`;
}

/** One row per wave for `jobs JOB`: `wave 2`, `gate: 4 nodes, 4 ended, 2 failed`. */
export function formatWaveRows(rollout: RolloutDto, nowMs: number): string[][] {
  return rollout.plan.map((wave) => {
    const waiting =
      wave.state === 'gate' && rollout.nextWaveAt !== null && wave.wave === rollout.current
        ? `, next wave in ${formatDuration(Math.max(0, rollout.nextWaveAt - nowMs))}`
        : '';
    return [
      `wave ${wave.wave}`,
      `${wave.state}: ${wave.size} node${wave.size === 1 ? '' : 's'}, ${wave.ended} ended, ${wave.failed} failed${waiting}`,
    ];
  });
}

/** What to tell an operator watching a job that just paused. */
export function formatPauseNotice(job: JobDto): string {
  return (
    `Job ${job.jobId} is paused: ${job.pausedReason ?? 'paused'}\n` +
    `  go on: edgestelle jobs resume ${job.jobId}   stop: edgestelle jobs cancel ${job.jobId}\n`
  );
}
