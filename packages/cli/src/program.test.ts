import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const main = fileURLToPath(new URL('./main.ts', import.meta.url));

describe('edgestelle command', () => {
  it('prints help naming itself', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--conditions=source', main, '--help']);
    expect(stdout).toContain('Usage: edgestelle');
    expect(stdout).toContain('Run scripts on a fleet');
  });

  it('exits non-zero with a hint on an unknown verb', async () => {
    await expect(
      run(process.execPath, ['--import', 'tsx', '--conditions=source', main, 'no-such-verb']),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--help'),
    });
  });
});
