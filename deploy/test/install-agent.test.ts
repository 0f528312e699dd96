/**
 * install_agent.sh into a temporary root (--root: no useradd, chown or systemctl), with the real
 * agent bundle built by deploy/build-agent-bundle.mjs.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { freePort, tempDir, type TempDir } from '@edgestelle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shippedAgentLaunch } from '../../bench/scenarios/agent-idle.ts';
import { modeOf, runCommand } from './run-command.ts';

const DEPLOY = resolve(import.meta.dirname, '..');
const INSTALLER = join(DEPLOY, 'install_agent.sh');
/** The node flags on the unit's ExecStart line, read as the benchmarks read them. */
const { nodeFlags } = shippedAgentLaunch(await readFile(join(DEPLOY, 'edgestelle-agent.service'), 'utf8'));

describe('agent bundle and install_agent.sh', () => {
  let work: TempDir;
  let bundle: string;

  beforeAll(async () => {
    work = await tempDir('edgestelle-install-');
    bundle = join(work.path, 'build', 'edgestelle-agent.mjs');
    const built = await runCommand(process.execPath, [join(DEPLOY, 'build-agent-bundle.mjs'), '--outfile', bundle], {
      timeoutMs: 120_000,
    });
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);
  });

  afterAll(async () => {
    await work?.[Symbol.asyncDispose]();
  });

  async function install(root: string, ...args: string[]) {
    return runCommand('bash', [INSTALLER, '--root', root, '--bundle', bundle, ...args]);
  }

  async function sha256(path: string): Promise<string> {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  }

  it('runs --help with plain node from a folder outside the repository, needing no node_modules', async () => {
    await using elsewhere = await tempDir();
    const copy = join(elsewhere.path, 'edgestelle-agent.mjs');
    await copyFile(bundle, copy);
    const result = await runCommand(process.execPath, [copy, '--help'], {
      cwd: elsewhere.path,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/edgestelle agent enroll --master URL --token TOKEN/);

    // Only Node's built-ins and the optional PTY module stay outside the bundle.
    const text = await readFile(bundle, 'utf8');
    // One character beyond Latin-1 and Node holds all of the text as a two-byte string.
    expect(text.match(/[\u0100-\uffff]/g) ?? []).toEqual([]);
    const imported = [...text.matchAll(/^import\s[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    const required = [...text.matchAll(/\brequire\(["']([^"']+)["']\)/g)].map((m) => m[1]);
    const external = new Set([...imported, ...required].filter((s) => s !== undefined));
    const { builtinModules } = await import('node:module');
    for (const specifier of external) {
      const bare = specifier.replace(/^node:/, '');
      expect(
        builtinModules.includes(bare) || specifier === '@lydell/node-pty' || specifier === 'node-pty',
        specifier,
      ).toBe(true);
    }
  });

  it('starts with the node flags of the unit, which this Node accepts', async () => {
    await using elsewhere = await tempDir();
    const result = await runCommand(process.execPath, [...nodeFlags, bundle, '--help'], {
      cwd: elsewhere.path,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('installs the bundle, settings, broker CA, state dir and unit with the right modes', async () => {
    await using root = await tempDir();
    await using certs = await tempDir();
    expect(
      (await runCommand('bash', [join(DEPLOY, 'gen_certs.sh'), '--out', certs.path, '--dns', 'mqtt.test'])).code,
    ).toBe(0);
    const caFile = join(certs.path, 'ca.crt');
    const result = await install(
      root.path,
      '--no-enroll',
      '--no-start',
      '--env',
      'EDGESTELLE_TAGS=site=lab,role=gw',
      '--env',
      'EDGESTELLE_LOG_LEVEL=debug',
      '--mqtt-ca',
      caFile,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    const expected: Record<string, string> = {
      'opt/edgestelle': '755',
      'opt/edgestelle/edgestelle-agent.mjs': '644',
      'etc/edgestelle': '755',
      'etc/edgestelle/ca.crt': '644',
      'etc/edgestelle/agent.env': '600',
      'var/lib/edgestelle': '700',
      'etc/systemd/system/edgestelle-agent.service': '644',
      'usr/local/bin/edgestelle-agent': '755',
    };
    for (const [path, mode] of Object.entries(expected)) {
      expect(modeOf((await stat(join(root.path, path))).mode), path).toBe(mode);
    }
    expect(await sha256(join(root.path, 'opt/edgestelle/edgestelle-agent.mjs'))).toBe(await sha256(bundle));
    expect(await sha256(join(root.path, 'etc/edgestelle/ca.crt'))).toBe(await sha256(caFile));
    expect(await readFile(join(root.path, 'etc/edgestelle/agent.env'), 'utf8')).toBe(
      [
        '# EdgeStelle agent settings (written by install_agent.sh; read by systemd as root).',
        'EDGESTELLE_STATE_DIR=/var/lib/edgestelle',
        'EDGESTELLE_MQTT_CA_FILE=/etc/edgestelle/ca.crt',
        'EDGESTELLE_TAGS=site=lab,role=gw',
        'EDGESTELLE_LOG_LEVEL=debug',
        '',
      ].join('\n'),
    );
    const unit = await readFile(join(root.path, 'etc/systemd/system/edgestelle-agent.service'), 'utf8');
    // The checked node replaces `/usr/bin/env node`; the flags stay.
    expect(unit).toContain(
      `ExecStart=${[process.execPath, ...nodeFlags, '/opt/edgestelle/edgestelle-agent.mjs'].join(' ')}\n`,
    );
    expect(unit).toContain('User=edgestelle\n');
    expect(unit).toContain('EnvironmentFile=/etc/edgestelle/agent.env\n');
    expect(unit).toMatch(/\[Unit\][^[]*StartLimitBurst=10/);
    expect(unit).toMatch(/\[Service\][^[]*Restart=always/);

    // The command wrapper runs the installed bundle with the node that was checked and the unit's flags.
    const wrapper = await readFile(join(root.path, 'usr/local/bin/edgestelle-agent'), 'utf8');
    expect(wrapper).toContain(
      `exec "${process.execPath}" ${[...nodeFlags, '/opt/edgestelle/edgestelle-agent.mjs'].join(' ')} "$@"`,
    );
  });

  it('is idempotent: a second run leaves the same files and no leftovers', async () => {
    await using root = await tempDir();
    expect((await install(root.path, '--no-enroll', '--no-start', '--user', 'root')).code).toBe(0);
    const unitPath = join(root.path, 'etc/systemd/system/edgestelle-agent.service');
    const before = await sha256(unitPath);
    const again = await install(root.path, '--no-enroll', '--no-start', '--user', 'root');
    expect(again.code).toBe(0);
    expect(await sha256(unitPath)).toBe(before);
    expect(await readFile(unitPath, 'utf8')).toMatch(/^User=root\nGroup=root$/m);
    for (const dir of ['opt/edgestelle', 'etc/edgestelle', 'etc/systemd/system', 'usr/local/bin']) {
      expect(
        (await readdir(join(root.path, dir))).filter((f) => f.endsWith('.new')),
        dir,
      ).toEqual([]);
    }
  });

  it('enrolls through the agent and stops, service not enabled, when the master cannot be reached', async () => {
    await using root = await tempDir();
    const port = await freePort();
    const result = await install(root.path, '--no-start', '--master', `http://127.0.0.1:${port}`, '--token', 'tok-1');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`enrollment with http://127.0.0.1:${port} failed`));
    await expect(stat(join(root.path, 'var/lib/edgestelle/credentials.json'))).rejects.toThrow();
  });

  it('keeps an enrolled node’s identity instead of spending the token again', async () => {
    await using root = await tempDir();
    await mkdir(join(root.path, 'var/lib/edgestelle'), { recursive: true, mode: 0o700 });
    await writeFile(join(root.path, 'var/lib/edgestelle/credentials.json'), '{}', { mode: 0o600 });
    const result = await install(root.path, '--no-start', '--master', 'https://master.example', '--token', 'used');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Already enrolled/);
  });

  it('refuses a missing or too old Node.js and says how to get one', async () => {
    await using root = await tempDir();
    const missing = await install(root.path, '--no-enroll', '--node', join(root.path, 'no-node'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Node\.js >= 20\.12 is needed[\s\S]*apt-get install nodejs/);

    // An executable that answers like Node 18 does to `-p process.versions.node`.
    const oldNode = join(root.path, 'node18');
    await writeFile(oldNode, '#!/bin/sh\necho 18.20.4\n', { mode: 0o755 });
    const old = await install(root.path, '--no-enroll', '--node', oldNode);
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/Node\.js 18\.20\.4 .* is too old/);
    await expect(stat(join(root.path, 'opt/edgestelle'))).rejects.toThrow();
  });

  it('refuses bad arguments before changing anything', async () => {
    await using root = await tempDir();
    const noToken = await install(root.path, '--master', 'https://m.example');
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/--token TOKEN/);
    const badEnv = await install(root.path, '--no-enroll', '--env', 'PATH=/tmp');
    expect(badEnv.code).toBe(1);
    expect(await readdir(root.path)).toEqual([]);
  });

  it('uninstalls, keeping the state dir unless --purge', async () => {
    await using root = await tempDir();
    expect((await install(root.path, '--no-enroll', '--no-start')).code).toBe(0);
    await writeFile(join(root.path, 'var/lib/edgestelle/node-id'), 'n1');
    const removed = await runCommand('bash', [INSTALLER, '--root', root.path, '--uninstall']);
    expect(removed.code).toBe(0);
    await expect(stat(join(root.path, 'opt/edgestelle'))).rejects.toThrow();
    await expect(stat(join(root.path, 'etc/edgestelle/agent.env'))).rejects.toThrow();
    await expect(stat(join(root.path, 'etc/systemd/system/edgestelle-agent.service'))).rejects.toThrow();
    expect(await readFile(join(root.path, 'var/lib/edgestelle/node-id'), 'utf8')).toBe('n1');

    const purged = await runCommand('bash', [INSTALLER, '--root', root.path, '--uninstall', '--purge']);
    expect(purged.code).toBe(0);
    await expect(stat(join(root.path, 'var/lib/edgestelle'))).rejects.toThrow();
  });
});
