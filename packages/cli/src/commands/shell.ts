import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import {
  describeIssues,
  nodeDtoSchema,
  shellCloseCodes,
  shellServerMessageSchema,
  type ShellServerMessage,
} from '@edgestelle/protocol';
import type { Command } from 'commander';
import WebSocket from 'ws';
import { unreachable } from '../api-client.ts';
import { CliError, CliErrorCode } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import type { Terminal } from '../terminal.ts';
import { examples } from './help.ts';

type ShellError = Extract<ShellServerMessage, { type: 'error' }>;

const cliCodeByShellError: Record<ShellError['code'], CliErrorCode> = {
  unauthenticated: CliErrorCode.unauthenticated,
  forbidden: CliErrorCode.forbidden,
  not_found: CliErrorCode.notFound,
  invalid_request: CliErrorCode.invalidRequest,
  node_offline: CliErrorCode.unavailable,
  shell_unsupported: CliErrorCode.unavailable,
  pty_unavailable: CliErrorCode.unavailable,
  refused: CliErrorCode.unavailable,
  no_answer: CliErrorCode.unavailable,
  unavailable: CliErrorCode.unavailable,
};

export function addShellVerb(program: Command, terminal: Terminal): void {
  program
    .command('shell')
    .description('open an interactive terminal on a node, through its agent’s one connection')
    .argument('<node>', 'the node id')
    .argument('[command...]', 'run this (through /bin/sh -c) instead of the login shell; put it after --')
    .addHelpText(
      'after',
      `\nThe exit status is the shell's (128 + N when it died of signal N). Every session is recorded and audited.\n${examples(
        'edgestelle shell edge-01',
        'edgestelle shell edge-01 -- top',
        "edgestelle shell edge-01 -- 'journalctl -f -u collector'",
      )}`,
    )
    .action(async (nodeId: string, command: string[]) => {
      process.exitCode = await openShell(terminal, nodeId, command.length === 0 ? undefined : command.join(' '));
    });
}

/** Says why a node cannot give a shell before a session is asked for. */
async function checkNode(api: Awaited<ReturnType<typeof connect>>['api'], nodeId: string): Promise<void> {
  const node = await api.get(`/api/v1/nodes/${encodeURIComponent(nodeId)}`, nodeDtoSchema);
  const unavailable = (message: string): CliError => new CliError(CliErrorCode.unavailable, message);
  if (!node.online) throw unavailable(`node ${nodeId} is offline: a shell needs it connected`);
  const capabilities = node.facts?.capabilities;
  if (capabilities?.shell !== true) {
    throw unavailable(
      `the agent on ${nodeId} (${node.facts?.agentVersion ?? 'unknown version'}) has no shell sessions: upgrade it`,
    );
  }
  if (!capabilities.pty) {
    throw unavailable(
      `node ${nodeId} cannot give a terminal (no node-pty, no script(1) from util-linux): install util-linux there`,
    );
  }
}

async function openShell(terminal: Terminal, nodeId: string, command: string | undefined): Promise<number> {
  const { api, token } = await connect(terminal.env);
  await checkNode(api, nodeId);
  const size = (): { cols: number; rows: number } => ({
    cols: terminal.stdoutIsTty ? terminal.stdout.columns : 80,
    rows: terminal.stdoutIsTty ? terminal.stdout.rows : 24,
  });
  const query = new URLSearchParams({
    cols: String(size().cols),
    rows: String(size().rows),
    term: terminal.env.TERM ?? 'xterm-256color',
    ...(command === undefined ? {} : { command }),
  });
  const url = `${api.baseUrl.replace(/^http/, 'ws')}/api/v1/nodes/${encodeURIComponent(nodeId)}/shell?${query.toString()}`;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const { stdin, stdout } = terminal;
  let raw = false;
  const onInput = (data: Buffer): void => {
    if (socket.readyState === socket.OPEN) socket.send(data, { binary: true });
  };
  // Piped input ends: the remote shell gets Ctrl-D, as if it were typed.
  const onInputEnd = (): void => onInput(Buffer.from([4]));
  const onResize = (): void => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: 'resize', ...size() }));
  };
  const restore = (): void => {
    stdin.off('data', onInput);
    stdin.off('end', onInputEnd);
    stdout.off('resize', onResize);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  };
  return await new Promise<number>((resolve, reject) => {
    let exit: Extract<ShellServerMessage, { type: 'exit' }> | undefined;
    let failure: CliError | undefined;
    socket.on('unexpected-response', (_request, response) => {
      failure = new CliError(CliErrorCode.unavailable, `the master answered HTTP ${response.statusCode ?? '?'}`);
      response.resume();
      socket.terminate();
    });
    socket.on('error', (err) => {
      failure ??= unreachable(api.baseUrl, err);
    });
    socket.on('open', () => {
      if (terminal.stdinIsTty) {
        // Raw: Ctrl-C, Ctrl-D, arrows and every other key go to the remote terminal as bytes.
        stdin.setRawMode(true);
        raw = true;
        // libuv's raw mode keeps output processing (a newline becomes CR LF), which moves the
        // cursor of a full-screen program wrongly; the remote terminal already did that part.
        // setRawMode(false) puts back the settings from before, this one included.
        spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
      }
      stdin.on('data', onInput);
      stdin.on('end', onInputEnd);
      stdin.resume();
      if (terminal.stdoutIsTty) stdout.on('resize', onResize);
    });
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        stdout.write(data);
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(data.toString('utf8'));
      } catch (err) {
        failure = new CliError(CliErrorCode.badResponse, 'the master sent a text frame that is not JSON', {
          cause: err,
        });
        return;
      }
      const parsed = shellServerMessageSchema.safeParse(json);
      if (!parsed.success) {
        failure = new CliError(CliErrorCode.badResponse, `unexpected shell message: ${describeIssues(parsed.error)}`);
        return;
      }
      const message = parsed.data;
      if (message.type === 'exit') exit = message;
      else if (message.type === 'error') failure = new CliError(cliCodeByShellError[message.code], message.message);
    });
    socket.on('close', (code, reason) => {
      restore();
      if (exit !== undefined) {
        if (exit.reason !== undefined && terminal.stderrIsTty)
          terminal.stderr.write(`\r\nsession ended: ${exit.reason}\r\n`);
        resolve(exitStatus(exit));
        return;
      }
      if (failure !== undefined) return reject(failure);
      const why = reason.toString('utf8');
      if (code === shellCloseCodes.unauthenticated) {
        return reject(new CliError(CliErrorCode.unauthenticated, `${why}: log in again with edgestelle login`));
      }
      if (code === shellCloseCodes.forbidden) return reject(new CliError(CliErrorCode.forbidden, why));
      reject(new CliError(CliErrorCode.unavailable, `the shell session ended without an exit status (${code} ${why})`));
    });
  });
}

function exitStatus(exit: Extract<ShellServerMessage, { type: 'exit' }>): number {
  if (exit.exitCode !== null) return exit.exitCode;
  const signal =
    exit.signal === null ? undefined : (constants.signals as Record<string, number | undefined>)[exit.signal];
  return signal === undefined ? 1 : 128 + signal;
}
