import type { AckCommand, AgentEvent, Command } from '@edgestelle/protocol';
import type { AckHandler } from './acks.ts';
import type { RunAdmission } from './run-admission.ts';
import type { RunScheduler } from './run-scheduler.ts';
import type { ShellSessions } from './shell-sessions.ts';

export interface CommandHandlersOptions {
  admission: RunAdmission;
  scheduler: RunScheduler;
  acks: AckHandler;
  shells: ShellSessions;
  publishEvent: (event: AgentEvent) => void;
}

type CancelCommand = Extract<Command, { kind: 'cancel' }>;
type PingCommand = Extract<Command, { kind: 'ping' }>;

/** One handler per command kind; {@link dispatch} is the only switch over them. */
export class CommandHandlers {
  constructor(private readonly options: CommandHandlersOptions) {}

  async dispatch(command: Command): Promise<void> {
    switch (command.kind) {
      case 'run':
        return this.options.admission.handle(command);
      case 'cancel':
        return this.cancel(command);
      case 'ack':
        return this.ack(command);
      case 'ping':
        return this.ping(command);
      case 'shell_open':
      case 'shell_input':
      case 'shell_resize':
      case 'shell_close':
        return this.options.shells.handle(command);
    }
  }

  private cancel(command: CancelCommand): void {
    this.options.scheduler.cancel(command.runId);
  }

  private ack(command: AckCommand): void {
    for (const { runId, seq } of command.runs) this.options.acks.ack(runId, seq);
  }

  private ping(command: PingCommand): void {
    this.options.publishEvent({ kind: 'pong', pingId: command.pingId });
  }
}
