import { parseWaveList, rolloutCreateSchema, describeIssues, type RolloutCreate } from '@edgestelle/protocol';
import { usageError } from './cli-error.ts';
import { parseDurationMs } from './parse-args.ts';

/** `run`'s rollout flags as commander hands them over. */
export interface RolloutFlags {
  waves?: string | undefined;
  maxFailureRate?: string | undefined;
  wavePause?: string | undefined;
  approve?: boolean | undefined;
}

/**
 * `--waves 1,10%,100% [--max-failure-rate 5%] [--wave-pause 2m | --approve]` into the job's
 * `rollout`; undefined without `--waves`. Throws a usage error naming the flag.
 */
export function parseRolloutFlags(flags: RolloutFlags): RolloutCreate | undefined {
  if (flags.waves === undefined) {
    const stray = [
      flags.maxFailureRate === undefined ? '' : '--max-failure-rate',
      flags.wavePause === undefined ? '' : '--wave-pause',
      flags.approve === true ? '--approve' : '',
    ].filter((flag) => flag !== '');
    if (stray.length > 0) throw usageError(`${stray.join(', ')} go${stray.length === 1 ? 'es' : ''} with --waves`);
    return undefined;
  }
  const waves = parseWaveList(flags.waves);
  if (typeof waves === 'string') throw usageError(`--waves: ${waves}`);
  if (flags.approve === true && flags.wavePause !== undefined) {
    throw usageError('--wave-pause and --approve: a gate waits for a time or for an operator, give one of them');
  }
  const rollout: RolloutCreate = {
    waves,
    ...(flags.maxFailureRate === undefined ? {} : { maxFailureRate: parseRate(flags.maxFailureRate) }),
    ...(flags.wavePause === undefined ? {} : { wavePauseMs: parseDurationMs(flags.wavePause, '--wave-pause') }),
    ...(flags.approve === true ? { approve: true } : {}),
  };
  const checked = rolloutCreateSchema.safeParse(rollout);
  if (!checked.success) throw usageError(describeIssues(checked.error));
  return rollout;
}

/** `5%`, `5`, `12.5%`: a percentage from 0 to 100. */
function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(text.trim());
  const rate = match === null ? Number.NaN : Number(match[1]);
  if (!(rate >= 0 && rate <= 100))
    throw usageError(`--max-failure-rate: '${text}' is not a percentage from 0% to 100%`);
  return rate;
}
