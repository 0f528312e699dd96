import { CliError, CliErrorCode, usageError } from './cli-error.ts';
import type { Terminal } from './terminal.ts';

const MAX_PASSWORD_CHARS = 1024;

/**
 * Reads a password from the terminal without echoing it: raw mode, one key at a time,
 * Backspace edits, Enter ends, Ctrl-C and Ctrl-D abort.
 */
export function promptPassword(stdin: NodeJS.ReadStream, stderr: NodeJS.WriteStream, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let password = '';
    const finish = (err: CliError | null): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (err === null) resolve(password);
      else reject(err);
    };
    const onData = (data: Buffer): void => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(null);
        if (char === '\u0003' || char === '\u0004') {
          return finish(new CliError(CliErrorCode.interrupted, 'login cancelled'));
        }
        if (char === '\u007f' || char === '\b') password = password.slice(0, -1);
        else if (char >= ' ' && password.length < MAX_PASSWORD_CHARS) password += char;
      }
    };
    stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** `--password-stdin`: everything on stdin, without the one newline that `echo` adds. */
export async function readPasswordFromStdin(stdin: NodeJS.ReadStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of stdin) parts.push(Buffer.isBuffer(part) ? part : Buffer.from(String(part)));
  return Buffer.concat(parts)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * A password from a pipe (`--password-stdin`) or typed without echo; no terminal and no pipe
 * is a usage error that says `otherwise` (what the verb accepts instead).
 */
export async function readPassword(
  terminal: Terminal,
  fromStdin: boolean,
  prompt: string,
  otherwise: string,
): Promise<string> {
  if (fromStdin) {
    if (terminal.stdinIsTty) throw usageError('--password-stdin wants the password piped in, not typed');
    return readPasswordFromStdin(terminal.stdin);
  }
  if (!terminal.stdinIsTty) throw usageError(`no terminal to ask for the password on: ${otherwise}`);
  return promptPassword(terminal.stdin, terminal.stderr, prompt);
}
