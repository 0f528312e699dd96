import { AgentError, AgentErrorCode } from './errors.ts';

/** Which states each state may go to; a state that lists none is final. */
export type Transitions<S extends string> = Readonly<Record<S, readonly S[]>>;

export function isLegalTransition<S extends string>(transitions: Transitions<S>, from: S, to: S): boolean {
  return transitions[from].includes(to);
}

/**
 * The error for a transition the table does not allow. It is a bug in the agent, never bad
 * input: the error names both states instead of letting a run be silently "running" twice.
 */
export function illegalTransition(what: string, from: string, to: string): AgentError {
  return new AgentError(AgentErrorCode.illegalTransition, `${what} cannot go from '${from}' to '${to}'`);
}

/** A tiny explicit state machine: the allowed transitions are data, and anything else throws. */
export class StateMachine<S extends string> {
  private current: S;

  constructor(
    private readonly what: string,
    initial: S,
    private readonly transitions: Transitions<S>,
  ) {
    this.current = initial;
  }

  get state(): S {
    return this.current;
  }

  can(next: S): boolean {
    return isLegalTransition(this.transitions, this.current, next);
  }

  to(next: S): void {
    if (!this.can(next)) throw illegalTransition(this.what, this.current, next);
    this.current = next;
  }
}
