import { AgentError, AgentErrorCode } from './errors.ts';

/**
 * A tiny explicit state machine: the allowed transitions are data, and anything else throws,
 * so a bug shows up as an error naming both states instead of as a run that is silently
 * "running" twice.
 */
export class StateMachine<S extends string> {
  private current: S;

  constructor(
    private readonly what: string,
    initial: S,
    private readonly transitions: Readonly<Record<S, readonly S[]>>,
  ) {
    this.current = initial;
  }

  get state(): S {
    return this.current;
  }

  can(next: S): boolean {
    return this.transitions[this.current].includes(next);
  }

  to(next: S): void {
    if (!this.can(next)) {
      throw new AgentError(
        AgentErrorCode.illegalTransition,
        `${this.what} cannot go from '${this.current}' to '${next}'`,
      );
    }
    this.current = next;
  }
}
