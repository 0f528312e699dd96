import type { RunExecutor } from '@edgestelle/agent';

/**
 * LIGHT EXECUTOR: for fleet benchmarks of thousands of simulated nodes on one machine, where
 * forking a shell per node would measure the machine's fork rate rather than EdgeStelle. It
 * answers `true`, `false` and `echo WORDS…` in-process, without a child process; any other
 * command ends with exit 127 and says why on stderr. Everything after the executor — ledger,
 * chunker, spool, outbox, envelopes, MQTT, the master — is the real agent's code.
 */
export const lightExecutor: RunExecutor = {
  pty: () => Promise.resolve(undefined),
  ptyKind: () => Promise.resolve('none'),
  runAsAvailable: () => false,
  refuse: () => Promise.resolve(undefined),
  start(request, handlers) {
    const startedAt = Date.now();
    const command = (request.spec.command ?? '').trim();
    const echo = /^echo(?: (.*))?$/s.exec(command);
    setImmediate(() => {
      let exitCode = 0;
      if (echo !== null) handlers.onOutput('stdout', Buffer.from(`${echo[1] ?? ''}\n`));
      else if (command === 'false') exitCode = 1;
      else if (command !== 'true') {
        handlers.onOutput(
          'stderr',
          Buffer.from(`light executor (benchmark): only true, false and echo run here, not: ${command}\n`),
        );
        exitCode = 127;
      }
      handlers.onExit({
        outcome: exitCode === 0 ? 'succeeded' : 'failed',
        exitCode,
        signal: null,
        startedAt,
        endedAt: Date.now(),
        peakRssBytes: null,
      });
    });
    return Promise.resolve({ pid: process.pid, startedAt, stop: () => undefined });
  },
};
