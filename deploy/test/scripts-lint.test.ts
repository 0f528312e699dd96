/**
 * Static checks of what ships in deploy/: shellcheck on the shell scripts (installed with apt
 * when missing; skipped with a loud warning only when it cannot be installed) and
 * `systemd-analyze verify` on the agent's unit where systemd's tools exist.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from './run-command.ts';

const DEPLOY = resolve(import.meta.dirname, '..');

async function available(command: string, versionFlag = '--version'): Promise<boolean> {
  try {
    return (await runCommand(command, [versionFlag])).code === 0;
  } catch {
    // spawn fails with ENOENT when the program is not installed: that is the answer.
    return false;
  }
}

describe('deploy scripts and unit', () => {
  let shellcheck = false;
  let systemdAnalyze = false;

  beforeAll(async () => {
    shellcheck = await available('shellcheck');
    if (!shellcheck && (await available('apt-get'))) {
      await runCommand('apt-get', ['install', '-y', '--no-install-recommends', 'shellcheck'], { timeoutMs: 180_000 });
      shellcheck = await available('shellcheck');
    }
    if (!shellcheck) {
      console.warn('\n!!! shellcheck is not installed and could not be installed: deploy scripts NOT checked !!!\n');
    }
    systemdAnalyze = await available('systemd-analyze');
  }, 200_000);

  it('passes shellcheck: gen_certs.sh, install_agent.sh and the broker entrypoint', async ({ skip }) => {
    if (!shellcheck) skip('shellcheck unavailable');
    const scripts = ['gen_certs.sh', 'install_agent.sh', 'mosquitto/docker-entrypoint.sh'];
    const result = await runCommand('shellcheck', ['--severity=style', ...scripts], { cwd: DEPLOY });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('passes systemd-analyze verify: edgestelle-agent.service', async ({ skip }) => {
    if (!systemdAnalyze) skip('systemd-analyze unavailable');
    const result = await runCommand('systemd-analyze', ['verify', resolve(DEPLOY, 'edgestelle-agent.service')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});
