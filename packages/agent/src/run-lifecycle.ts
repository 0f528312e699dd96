import type { RunCommand } from '@edgestelle/protocol';
import type { Chunker } from './chunker.ts';
import { AgentError, AgentErrorCode } from './errors.ts';
import type { Execution } from './executor.ts';
import type { RunSpool } from './spool.ts';
import { StateMachine, type Transitions } from './state-machine.ts';

/**
 * A run's life on this node (docs/AGENT.md, "Run lifecycle"):
 *
 * - `received`: a run command for a run id the ledger does not know.
 * - `recorded`: its ledger line (`accepted`) is written; the fdatasync is under way.
 * - `queued`: the line is on disk; the run waits for a free slot.
 * - `starting`: it has a slot; the executor is starting its process.
 * - `cancelling`: a cancel came while the process was being started: it is stopped as soon as
 *   it exists.
 * - `running`: the process exists; its output goes to the spool.
 * - `exited`: the spool holds its `exited` (whatever the outcome: a run cancelled while queued
 *   gets one too).
 * - `acknowledged`: the master stored the `exited`; the spool let the run go.
 * - `rejected`: refused (deadline passed, cannot run here, ledger not on disk, spawn failed).
 * - `interrupted`: left waiting when the agent stopped; the next start writes its `exited`.
 */
export const runStates = [
  'received',
  'recorded',
  'queued',
  'starting',
  'cancelling',
  'running',
  'exited',
  'acknowledged',
  'rejected',
  'interrupted',
] as const;
export type RunState = (typeof runStates)[number];

const runTransitions: Transitions<RunState> = {
  received: ['recorded', 'rejected'],
  recorded: ['queued', 'rejected', 'interrupted'],
  queued: ['starting', 'exited', 'interrupted'],
  starting: ['running', 'cancelling', 'rejected'],
  cancelling: ['running', 'rejected'],
  running: ['exited'],
  exited: ['acknowledged'],
  acknowledged: [],
  rejected: [],
  // Taken by the next start, on the ledger's line (recovery).
  interrupted: ['exited'],
};

/** The states the ledger file records, a projection of the run's states below. */
export const ledgerStates = ['accepted', 'running', 'exited', 'rejected', 'delivered'] as const;
export type LedgerState = (typeof ledgerStates)[number];

/**
 * What the ledger holds for a run in each state (nothing before `recorded`). The states in
 * between live only in memory; an agent that dies in one of them leaves `accepted` or
 * `running` behind, which the next start ends as `interrupted`.
 */
const ledgerStateOf: Readonly<Record<RunState, LedgerState | undefined>> = {
  received: undefined,
  recorded: 'accepted',
  queued: 'accepted',
  starting: 'accepted',
  cancelling: 'accepted',
  interrupted: 'accepted',
  running: 'running',
  exited: 'exited',
  acknowledged: 'delivered',
  rejected: 'rejected',
};

/**
 * The ledger's transitions, projected from the run's: the ledger refuses exactly the changes
 * the lifecycle cannot make, so the two tables cannot drift apart.
 */
export const ledgerTransitions: Transitions<LedgerState> = projectOntoLedger();

function projectOntoLedger(): Transitions<LedgerState> {
  const table: Record<LedgerState, LedgerState[]> = {
    accepted: [],
    running: [],
    exited: [],
    rejected: [],
    delivered: [],
  };
  for (const from of runStates) {
    const source = ledgerStateOf[from];
    if (source === undefined) continue;
    for (const to of runTransitions[from]) {
      const target = ledgerStateOf[to];
      if (target !== undefined && target !== source && !table[source].includes(target)) table[source].push(target);
    }
  }
  return table;
}

/**
 * What the master has been told about a run besides its `exited` (see run-announcer.ts):
 * nothing yet, `accepted` (it waited; `started` follows as soon as it starts) or `started`.
 */
export type Announced = 'nothing' | 'accepted' | 'started';

/** What a run has once its process exists. */
export interface RunProcess {
  readonly execution: Execution;
  /** Its records in the spool: output chunks, then `exited`. */
  readonly spoolRun: RunSpool;
  readonly chunker: Chunker;
}

/** One run the agent is carrying, from its command to its `exited` in the spool. */
export class Run extends StateMachine<RunState> {
  announceTimer: NodeJS.Timeout | undefined = undefined;
  announced: Announced = 'nothing';
  private ownProcess: RunProcess | undefined = undefined;

  constructor(readonly command: RunCommand) {
    super(`run ${command.runId}`, 'received', runTransitions);
  }

  get runId(): string {
    return this.command.runId;
  }

  /** Its process exists (from `starting` or `cancelling`). */
  processStarted(process: RunProcess): void {
    this.to('running');
    this.ownProcess = process;
  }

  /** The process of a run that got as far as `running`; asking any other run is a bug. */
  get process(): RunProcess {
    if (this.ownProcess === undefined) {
      throw new AgentError(AgentErrorCode.illegalTransition, `run ${this.runId} has no process: it is '${this.state}'`);
    }
    return this.ownProcess;
  }
}
