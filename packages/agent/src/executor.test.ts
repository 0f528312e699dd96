import { readFileSync } from 'node:fs';
import { newId, runSpecSchema, type RunSpecInput } from '@edgestelle/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { until } from '../test/test-master.ts';
import { Executor, type Execution, type ExecutionResult } from './executor.ts';
import { scriptPtySpawner } from './script-pty.ts';

const logger = pino({ level: 'silent' });

interface Finished {
  result: ExecutionResult;
  stdout: string;
  stderr: string;
}

async function execute(
  executor: Executor,
  input: RunSpecInput,
  whileRunning?: (execution: Execution, output: () => string) => Promise<void>,
): Promise<Finished> {
  const spec = runSpecSchema.parse(input);
  let stdout = '';
  let stderr = '';
  let resolveExit: (result: ExecutionResult) => void = () => undefined;
  const exited = new Promise<ExecutionResult>((resolve) => {
    resolveExit = resolve;
  });
  const execution = await executor.start(
    { runId: newId(), jobId: newId(), spec },
    {
      onOutput: (stream, data) => {
        if (stream === 'stdout') stdout += data.toString('utf8');
        else stderr += data.toString('utf8');
      },
      onExit: resolveExit,
    },
  );
  expect(execution.pid).toBeGreaterThan(0);
  if (whileRunning !== undefined) await whileRunning(execution, () => stdout);
  return { result: await exited, stdout, stderr };
}

/** Alive and not a zombie waiting for a parent that is not reaping. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Starts TERM-ignoring children, a subshell with its own child, and prints every pid. */
const TREE_SCRIPT = `
trap '' TERM
( trap '' TERM; sleep 300 & echo "pid $!"; wait ) &
echo "pid $!"
sh -c 'trap "" TERM; echo "pid $$"; sleep 300' &
sleep 300 &
echo "pid $!"
echo ready
wait
`;

function pidsIn(output: string): number[] {
  return [...output.matchAll(/^pid (\d+)$/gm)].map((m) => Number(m[1]));
}

describe('Executor', () => {
  const executor = new Executor({ logger });

  it('passes args and env with shell metacharacters literally, in script and command mode', async () => {
    const nasty = ['$(touch /tmp/pwned)', '`id`', 'a\'b"c', '; rm -rf / #', '*', '$HOME', 'new\nline', ''];
    const script = await execute(executor, {
      script: { interpreter: 'sh', body: 'for a in "$@"; do printf "[%s]" "$a"; done; printf "{%s}" "$NASTY"' },
      args: nasty,
      env: { NASTY: '$(id) `id` ;|&' },
      timeoutMs: 10_000,
    });
    expect(script.stdout).toBe(`${nasty.map((a) => `[${a}]`).join('')}{$(id) \`id\` ;|&}`);
    const command = await execute(executor, {
      command: 'printf "[%s]" "$@"',
      args: nasty,
      timeoutMs: 10_000,
    });
    expect(command.stdout).toBe(nasty.map((a) => `[${a}]`).join(''));
    expect(command.result.outcome).toBe('succeeded');
  });

  it('keeps stdout and stderr apart and reports exit code, signal and duration', async () => {
    const failed = await execute(executor, {
      script: { interpreter: 'bash', body: 'echo out; echo err >&2; exit 3' },
      timeoutMs: 10_000,
    });
    expect(failed).toMatchObject({
      stdout: 'out\n',
      stderr: 'err\n',
      result: { outcome: 'failed', exitCode: 3, signal: null },
    });
    expect(failed.result.endedAt).toBeGreaterThanOrEqual(failed.result.startedAt);
    const killed = await execute(executor, { command: 'kill -9 $$', timeoutMs: 10_000 });
    expect(killed.result).toMatchObject({ outcome: 'failed', exitCode: null, signal: 'SIGKILL' });
    const python = await execute(executor, {
      script: { interpreter: 'python3', body: 'import sys; sys.stdout.buffer.write(bytes(range(256)))' },
      timeoutMs: 10_000,
    });
    expect(python.result.peakRssBytes === null || python.result.peakRssBytes > 0).toBe(true);
  });

  it('cancel ends the whole process tree, children that ignore TERM included', async () => {
    let pids: number[] = [];
    const { result } = await execute(
      executor,
      { script: { interpreter: 'sh', body: TREE_SCRIPT }, killGraceMs: 300, timeoutMs: 60_000 },
      async (execution, output) => {
        await until(() => output().includes('ready') && pidsIn(output()).length === 4, 'the tree to start', 10_000);
        pids = [execution.pid, ...pidsIn(output())];
        expect(pids.every(alive)).toBe(true);
        execution.stop('cancelled');
      },
    );
    expect(result.outcome).toBe('cancelled');
    await until(() => !pids.some(alive), 'every process of the tree to be gone', 10_000);
  });

  it('cancel ends the whole process tree of a PTY run on script(1), in its own session', async () => {
    const withScript = new Executor({ logger, loadPty: () => Promise.resolve(scriptPtySpawner()) });
    let pids: number[] = [];
    const { result } = await execute(
      withScript,
      { command: TREE_SCRIPT, pty: true, killGraceMs: 300, timeoutMs: 60_000 },
      async (execution, output) => {
        await until(() => output().includes('ready') && pidsIn(output()).length === 4, 'the tree to start', 10_000);
        pids = pidsIn(output());
        expect(pids.every(alive)).toBe(true);
        execution.stop('cancelled');
      },
    );
    expect(result.outcome).toBe('cancelled');
    await until(() => !pids.some(alive), 'every process of the tree to be gone', 10_000);
  });

  it('a timeout ends the whole process tree', async () => {
    let pids: number[] = [];
    const { result } = await execute(
      executor,
      { script: { interpreter: 'sh', body: TREE_SCRIPT }, killGraceMs: 300, timeoutMs: 1500 },
      async (execution, output) => {
        await until(() => output().includes('ready') && pidsIn(output()).length === 4, 'the tree to start', 10_000);
        pids = [execution.pid, ...pidsIn(output())];
      },
    );
    expect(result).toMatchObject({ outcome: 'timed_out', reason: 'timed out after 1500 ms' });
    await until(() => !pids.some(alive), 'every process of the tree to be gone', 10_000);
  });

  it('ends what a script left running in the background when it exits', async () => {
    const { stdout } = await execute(executor, {
      command: 'sleep 300 > /dev/null 2>&1 & echo "pid $!"',
      killGraceMs: 300,
      timeoutMs: 10_000,
    });
    const [pid] = pidsIn(stdout);
    if (pid === undefined) throw new Error('no pid printed');
    await until(() => !alive(pid), 'the background process to be gone', 10_000);
  });

  it('fails to start with a clear error for an interpreter that does not exist', async () => {
    await expect(
      execute(executor, { script: { interpreter: '/nonexistent/interp', body: 'x' }, timeoutMs: 1000 }),
    ).rejects.toThrow(/cannot start \/nonexistent\/interp/);
  });

  it('refuses PTY runs when this node has no terminal, and runs them on a real one with node-pty or script(1)', async () => {
    const without = new Executor({ logger, loadPty: () => Promise.resolve(undefined) });
    const spec = runSpecSchema.parse({ command: 'tty', pty: true, timeoutMs: 10_000 });
    expect(await without.refuse(spec)).toMatchObject({ code: 'pty_unavailable' });
    expect(await without.ptyKind()).toBe('none');
    const withScript = new Executor({ logger, loadPty: () => Promise.resolve(scriptPtySpawner()) });
    expect(await withScript.ptyKind()).toBe('script');
    for (const ptyExecutor of [executor, withScript]) {
      const { stdout, result } = await execute(ptyExecutor, { command: 'tty; exit 4', pty: true, timeoutMs: 10_000 });
      expect(stdout).toMatch(/\/dev\/pts\/\d+/);
      expect(result).toMatchObject({ outcome: 'failed', exitCode: 4 });
    }
  });

  it('runs as another user when root, and refuses runAs otherwise', async () => {
    const spec = runSpecSchema.parse({ command: 'id -u', runAs: 'nobody', timeoutMs: 10_000 });
    const refusal = await executor.refuse(spec);
    if (process.getuid?.() !== 0) {
      expect(refusal).toMatchObject({ code: 'run_as_unavailable' });
      return;
    }
    expect(refusal).toBeUndefined();
    const { stdout } = await execute(executor, { command: 'id -u; echo "$HOME"', runAs: 'nobody', timeoutMs: 10_000 });
    expect(stdout.split('\n')[0]).toBe('65534');
    expect(await executor.refuse({ ...spec, runAs: 'no-such-user-here' })).toMatchObject({
      code: 'run_as_unavailable',
    });
  });

  it('merges stderr into stdout in the order written when asked, for commands and scripts', async () => {
    const command = await execute(executor, {
      command: 'echo a; echo b >&2; echo c',
      mergeStderr: true,
      timeoutMs: 10_000,
    });
    expect(command).toMatchObject({ stdout: 'a\nb\nc\n', stderr: '' });
    const script = await execute(executor, {
      script: { interpreter: 'sh', body: 'echo "$1"; echo "$2" >&2; echo end; exit 3' },
      args: ['one arg', 'two'],
      mergeStderr: true,
      timeoutMs: 10_000,
    });
    expect(script).toMatchObject({ stdout: 'one arg\ntwo\nend\n', stderr: '' });
    expect(script.result).toMatchObject({ outcome: 'failed', exitCode: 3 });
  });

  it('refuses a cwd that is missing or not a directory, naming it and the node; runs in one that is', async () => {
    const named = new Executor({ logger, nodeId: 'edge-7' });
    const spec = (cwd: string) => runSpecSchema.parse({ command: 'pwd', cwd, timeoutMs: 10_000 });
    expect(await named.refuse(spec('/no/such/dir-edgestelle'))).toEqual({
      code: 'cwd_missing',
      reason: 'working directory /no/such/dir-edgestelle does not exist on node edge-7',
    });
    expect(await named.refuse(spec('/etc/hostname/below'))).toMatchObject({ code: 'cwd_missing' });
    expect(await named.refuse(spec('/etc/passwd'))).toEqual({
      code: 'cwd_missing',
      reason: 'working directory /etc/passwd is not a directory on node edge-7',
    });
    expect(await named.refuse(spec('/tmp'))).toBeUndefined();
    expect((await execute(named, { command: 'pwd', cwd: '/tmp', timeoutMs: 10_000 })).stdout).toBe('/tmp\n');
  });
});
