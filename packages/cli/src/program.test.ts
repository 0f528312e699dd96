import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const edgestelle = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', main, ...args], { encoding: 'utf8' });

describe('edgestelle command', () => {
  it('prints help naming itself', () => {
    const { stdout, status } = edgestelle('--help');
    expect(status).toBe(0);
    expect(stdout).toContain('Usage: edgestelle');
    expect(stdout).toContain('Run scripts on a fleet');
  });

  it('exits 64 (usage) with a hint on an unknown verb', () => {
    const { stderr, status } = edgestelle('no-such-verb');
    expect(status).toBe(64);
    expect(stderr).toContain('--help');
  });
});
