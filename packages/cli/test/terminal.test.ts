import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type IPty } from '@lydell/node-pty';
import { jobDtoSchema, pageSchema, searchPageSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startFleet, waitFor, type Fleet } from './fleet.ts';

/**
 * The CLI on a real terminal (a pseudo-terminal): escaped control characters, coloured
 * prefixes, the Ctrl-C question, and the password prompt without echo.
 */
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet([
    { nodeId: 'tty-1', tags: { kind: 'tty' } },
    { nodeId: 'tty-2', tags: { kind: 'tty' } },
  ]);
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

interface Session {
  pty: IPty;
  output: () => string;
  exit: Promise<number>;
}

function onTerminal(args: readonly string[], env: Record<string, string | undefined> = {}): Session {
  const pty = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', MAIN, ...args], {
    name: 'xterm-256color',
    cols: 160,
    rows: 40,
    env: fleet.cliEnv(env),
  });
  let output = '';
  pty.onData((data) => (output += data));
  const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
  const timer = setTimeout(() => pty.kill('SIGKILL'), 30_000);
  void exit.then(() => clearTimeout(timer));
  return { pty, output: () => output, exit };
}

describe('on a terminal', () => {
  it('escapes control characters in node output and colours each node’s prefix', async () => {
    const session = onTerminal(['run', '--tag', 'kind=tty', '--', String.raw`printf 'a\033]52;c;ZXZpbA==\007b\n'`]);
    expect(await session.exit).toBe(0);
    const output = session.output();
    expect(output).toContain(String.raw`a\x1b]52;c;ZXZpbA==\x07b`);
    expect(output).not.toContain('\x1b]52');
    expect(output).toMatch(new RegExp(String.raw`\u001b\[\d+mtty-1\u001b\[0m \| a`));
    expect(output).toContain('2 runs: 2 succeeded');
  });

  it('search escapes control characters in found lines, unless --raw', async () => {
    await fleet.api('POST', '/api/v1/jobs', jobDtoSchema, {
      target: { nodeIds: ['tty-2'] },
      spec: { command: String.raw`printf 'found-it \033]0;title\007 here\n'`, timeoutMs: 10_000 },
    });
    await waitFor(
      async () => (await fleet.api('GET', '/api/v1/search?q=found-it', searchPageSchema)).items.length === 1,
      'the line indexed',
    );
    const session = onTerminal(['search', 'found-it']);
    expect(await session.exit).toBe(0);
    expect(session.output()).toContain(String.raw`\x1b]0;title\x07 here`);
    expect(session.output()).not.toContain('\x1b]0;title\x07');
    const raw = onTerminal(['search', 'found-it', '--raw']);
    expect(await raw.exit).toBe(0);
    expect(raw.output()).toContain('\x1b]0;title\x07 here');
  });

  it('--raw writes the exact bytes even to a terminal', async () => {
    const session = onTerminal(['run', '--node', 'tty-1', '--raw', '--', String.raw`printf 'x\033[1my\n'`]);
    expect(await session.exit).toBe(0);
    expect(session.output()).toContain('x\x1b[1my');
  });

  it('asks on Ctrl-C; d detaches (exit 3) and the job keeps running', async () => {
    const session = onTerminal(['run', '--tag', 'kind=tty', '--', 'echo started; sleep 30']);
    await waitFor(() => (session.output().match(/started/g) ?? []).length === 2, 'both nodes to start');
    session.pty.write('\x03');
    await waitFor(() => session.output().includes('[d]etach'), 'the question');
    session.pty.write('d');
    expect(await session.exit).toBe(3);
    const jobId = /edgestelle logs (\w{26}) --follow/.exec(session.output())?.[1] ?? '';
    const job = await fleet.api('GET', `/api/v1/jobs/${jobId}`, jobDtoSchema);
    expect(job.state).toBe('running');
    await fleet.api('POST', `/api/v1/jobs/${jobId}/cancel`, jobDtoSchema);
  });

  it('asks on Ctrl-C; c cancels the job (exit 130)', async () => {
    const session = onTerminal(['run', '--tag', 'kind=tty', '--', 'echo started; sleep 30']);
    await waitFor(() => (session.output().match(/started/g) ?? []).length === 2, 'both nodes to start');
    // The progress line, drawn on stderr while the runs go on.
    await waitFor(() => /0\/2 done, 2 running · \d/.test(session.output()), 'the progress line');
    session.pty.write('\x03');
    await waitFor(() => session.output().includes('[c]ancel'), 'the question');
    session.pty.write('c');
    expect(await session.exit).toBe(130);
    expect(session.output()).toMatch(/tty-1\s+cancelled/);
    const { items } = await fleet.api('GET', '/api/v1/jobs?limit=1', pageSchema(jobDtoSchema));
    expect(items[0]?.state).toBe('cancelled');
  });

  it('prompts for the password without echoing it', async () => {
    const configHome = join(fleet.dir, 'tty-login');
    const session = onTerminal(['login', '--url', fleet.url], {
      EDGESTELLE_URL: undefined,
      EDGESTELLE_TOKEN: undefined,
      XDG_CONFIG_HOME: configHome,
    });
    await waitFor(() => session.output().includes('Password for admin'), 'the prompt');
    session.pty.write(`${ADMIN_PASSWORD}\r`);
    expect(await session.exit).toBe(0);
    expect(session.output()).not.toContain(ADMIN_PASSWORD);
    expect(session.output()).toContain('Logged in to');
  });
});
