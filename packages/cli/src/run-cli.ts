import { CommanderError, type Command } from 'commander';
import { ExitCode } from '@edgestelle/protocol';
import { CliError } from './cli-error.ts';

/**
 * The one top-level error handler: a known error is one line on stderr and its exit code;
 * anything else is one line too (a bug, exit 70) — never a stack trace. EDGESTELLE_DEBUG=1
 * prints the stack for whoever debugs the CLI itself.
 */
export async function runCli(
  program: Command,
  argv: readonly string[],
  stderr: NodeJS.WritableStream,
): Promise<number> {
  throwInsteadOfExit(program);
  quietOnClosedPipe(process.stdout);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its message (and the help hint) to stderr.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (err instanceof CliError) {
      stderr.write(`edgestelle: ${err.message}\n`);
      return err.exitCode;
    }
    stderr.write(`edgestelle: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.EDGESTELLE_DEBUG === '1' && err instanceof Error) stderr.write(`${err.stack ?? ''}\n`);
    return ExitCode.software;
  }
}

/**
 * `edgestelle logs RUN | head` closes the pipe early: that is the reader's choice, not an
 * error worth a stack trace. Any other write error on stdout is reported in one line.
 */
function quietOnClosedPipe(stdout: NodeJS.WriteStream): void {
  stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`edgestelle: cannot write the output: ${err.message}\n`);
    process.exit(err.code === 'EPIPE' ? ExitCode.ok : ExitCode.ioError);
  });
}

function throwInsteadOfExit(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) throwInsteadOfExit(sub);
}
