import { newId, runSpecSchema, type RunCommand } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { AgentError } from './errors.ts';
import { ledgerTransitions, Run, runStates, type RunState } from './run-lifecycle.ts';

/**
 * Every way a run goes through the agent, written out here rather than read from the table:
 * the table must allow exactly the steps these paths take.
 */
const legalPaths: Record<string, readonly RunState[]> = {
  'runs and is acknowledged': ['received', 'recorded', 'queued', 'starting', 'running', 'exited', 'acknowledged'],
  'expired or not runnable here on arrival': ['received', 'rejected'],
  'ledger line not on disk': ['received', 'recorded', 'rejected'],
  'expired in line, or the spawn failed': ['received', 'recorded', 'queued', 'starting', 'rejected'],
  'cancelled while queued': ['received', 'recorded', 'queued', 'exited', 'acknowledged'],
  'cancelled while starting': [
    'received',
    'recorded',
    'queued',
    'starting',
    'cancelling',
    'running',
    'exited',
    'acknowledged',
  ],
  'cancelled while starting, then the spawn failed': [
    'received',
    'recorded',
    'queued',
    'starting',
    'cancelling',
    'rejected',
  ],
  'left queued by a stopping agent, ended by the next start': [
    'received',
    'recorded',
    'queued',
    'interrupted',
    'exited',
    'acknowledged',
  ],
  'recorded while the agent stops, ended by the next start': [
    'received',
    'recorded',
    'interrupted',
    'exited',
    'acknowledged',
  ],
};

const legalSteps = new Set(
  Object.values(legalPaths).flatMap((path) => path.slice(1).map((to, i) => `${path[i] ?? ''}>${to}`)),
);

/** The shortest prefix of a legal path that ends in `state`. */
function pathTo(state: RunState): readonly RunState[] {
  const prefixes = Object.values(legalPaths)
    .filter((path) => path.includes(state))
    .map((path) => path.slice(0, path.indexOf(state) + 1));
  const shortest = prefixes.sort((a, b) => a.length - b.length)[0];
  if (shortest === undefined) throw new Error(`no legal path reaches ${state}`);
  return shortest;
}

function command(): RunCommand {
  return {
    kind: 'run',
    runId: newId(),
    jobId: newId(),
    deadlineAt: Date.now() + 60_000,
    spec: runSpecSchema.parse({ command: 'true', timeoutMs: 1000 }),
  };
}

function runIn(state: RunState): Run {
  const run = new Run(command());
  for (const next of pathTo(state).slice(1)) run.to(next);
  expect(run.state).toBe(state);
  return run;
}

const refused = runStates.flatMap((from) =>
  runStates.filter((to) => !legalSteps.has(`${from}>${to}`)).map((to) => ({ from, to })),
);

describe('run lifecycle', () => {
  it.each(Object.entries(legalPaths))('walks the legal path: %s', (_, path) => {
    const run = new Run(command());
    expect(run.state).toBe('received');
    for (const next of path.slice(1)) run.to(next);
    expect(run.state).toBe(path.at(-1));
  });

  it('reaches every state on some legal path', () => {
    for (const state of runStates) expect(pathTo(state).at(-1)).toBe(state);
  });

  it.each(refused)('refuses $from → $to with illegal_transition and stays put', ({ from, to }) => {
    const run = runIn(from);
    let thrown: unknown;
    try {
      run.to(to);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AgentError);
    expect(thrown).toMatchObject({
      code: 'illegal_transition',
      message: `run ${run.runId} cannot go from '${from}' to '${to}'`,
    });
    expect(run.state).toBe(from);
  });

  it('has a process only from running on', () => {
    const run = runIn('starting');
    expect(() => run.process).toThrow(/has no process: it is 'starting'/);
  });

  it("gives the ledger exactly the changes its lines can show (the ledger's own table before the split)", () => {
    const sorted = Object.fromEntries(Object.entries(ledgerTransitions).map(([from, to]) => [from, [...to].sort()]));
    expect(sorted).toEqual({
      accepted: ['exited', 'rejected', 'running'],
      running: ['exited'],
      exited: ['delivered'],
      rejected: [],
      delivered: [],
    });
  });
});
