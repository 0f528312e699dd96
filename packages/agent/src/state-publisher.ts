import type { PtyKindReport, StateMessage } from '@edgestelle/protocol';
import type { AgentLink } from './agent-link.ts';
import type { AgentConfig } from './config.ts';
import type { Will } from './connection.ts';
import type { RunExecutor } from './executor.ts';
import { collectFacts } from './facts.ts';
import { nextConnectionSeq } from './state-dir.ts';

export interface StatePublisherOptions {
  link: AgentLink;
  config: Pick<AgentConfig, 'stateDir' | 'tags' | 'maxConcurrentRuns' | 'heartbeatIntervalMs'>;
  executor: Pick<RunExecutor, 'runAsAvailable'>;
  /** How PTY runs are possible here (found once at start). */
  pty: PtyKindReport;
  runningRuns: () => number;
}

/**
 * The node's retained state: online with its facts on every connect and every heartbeat
 * (`beat + 1`), offline in the will of each connection attempt and when the agent stops.
 * Each attempt takes the next connection sequence from the state dir, so the sequence only grows.
 */
export class StatePublisher {
  private seq = 0;
  private beat = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: StatePublisherOptions) {}

  get connectionSeq(): number {
    return this.seq;
  }

  /** Called before every connection attempt. */
  willFor(): Will {
    this.seq = nextConnectionSeq(this.options.config.stateDir);
    this.beat = 0;
    return this.options.link.stateWill({ kind: 'state', online: false, connectionSeq: this.seq, beat: 0 });
  }

  /** The online state with facts, if connected. */
  publish(): void {
    if (!this.options.link.connected) return;
    this.options.link.publishState(this.online());
  }

  startHeartbeat(): void {
    this.heartbeatTimer = setInterval(() => {
      this.beat += 1;
      this.publish();
    }, this.options.config.heartbeatIntervalMs);
  }

  stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
  }

  /** The offline state the agent says last, one beat on. */
  lastWords(): Will {
    this.beat += 1;
    return this.options.link.stateWill({ kind: 'state', online: false, connectionSeq: this.seq, beat: this.beat });
  }

  private online(): StateMessage {
    const { config, executor, pty, runningRuns } = this.options;
    return {
      kind: 'state',
      online: true,
      connectionSeq: this.seq,
      beat: this.beat,
      facts: collectFacts({
        tags: config.tags,
        stateDir: config.stateDir,
        runningRuns: runningRuns(),
        maxConcurrentRuns: config.maxConcurrentRuns,
        pty,
        runAs: executor.runAsAvailable(),
      }),
    };
  }
}
