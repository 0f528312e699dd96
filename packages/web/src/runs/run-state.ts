import { isTerminalRunState, type RunState } from '@edgestelle/protocol';

export type StateTone = 'info' | 'primary' | 'success' | 'warning' | 'danger';

export const stateTone: Record<RunState, StateTone> = {
  queued: 'info',
  sent: 'info',
  accepted: 'info',
  running: 'primary',
  succeeded: 'success',
  failed: 'danger',
  timed_out: 'danger',
  cancelled: 'warning',
  interrupted: 'danger',
  rejected: 'danger',
  expired: 'warning',
  not_started: 'info',
};

/** States that mean "this node did not do what was asked" for the "only failed" filter. */
export function isFailedState(state: RunState): boolean {
  return (
    state === 'failed' ||
    state === 'timed_out' ||
    state === 'interrupted' ||
    state === 'rejected' ||
    state === 'expired'
  );
}

export function isCancellable(state: RunState): boolean {
  return !isTerminalRunState(state);
}

/** A job's "what", in one line: the command, or the script's interpreter and first line. */
export function describeSpec(spec: {
  command?: string | undefined;
  script?: { interpreter: string; body: string } | undefined;
}): string {
  if (spec.command !== undefined) return spec.command;
  if (spec.script === undefined) return '';
  const firstLine = spec.script.body.split('\n').find((line) => line.trim() !== '' && !line.startsWith('#!')) ?? '';
  return `${spec.script.interpreter}: ${firstLine.trim()}`;
}
