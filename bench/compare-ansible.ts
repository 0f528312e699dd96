/**
 * Side by side: `ansible all -m command -a true -c local -f 50` over an inventory of N local
 * hosts, against `edgestelle run --all -- true` on N simulated nodes (real agents with the
 * real executor, so `true` is a real process on every node, as with Ansible). Wall time from
 * starting the command to its exit; printed as a ratio. Installs Debian's ansible-core when
 * `ansible` is missing.
 *
 *   npx tsx --conditions=source bench/compare-ansible.ts                 # N = 100 and 1,000
 *   npx tsx --conditions=source bench/compare-ansible.ts --sizes 100     # one size
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { tempDir } from '@edgestelle/testkit';
import { z } from 'zod';
import { startFleet } from './fleet/fleet.ts';
import { BenchApi } from './lib/api.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import { startMasterChild } from './lib/master-child.ts';
import { loadAverage } from './lib/proc.ts';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '100,1000' }, forks: { type: 'string', default: '50' } },
});
const sizes = z.array(z.coerce.number().int().positive()).parse(values.sizes.split(','));
const forks = z.coerce.number().int().positive().parse(values.forks);
const rootDir = fileURLToPath(new URL('..', import.meta.url));

function ensureAnsible(): void {
  if (spawnSync('ansible', ['--version'], { stdio: 'ignore' }).status === 0) return;
  console.log("installing Debian's ansible-core …");
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const apt = (args: string[]): void => {
    const [command, ...rest] = [...sudo, 'apt-get', ...args];
    execFileSync(command ?? 'apt-get', rest, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  };
  apt(['update', '-qq']);
  apt(['install', '-y', '-qq', '--no-install-recommends', 'ansible-core']);
}

/** Runs a command to its exit; wall milliseconds, or throws with its output on failure. */
function timed(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4000)));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new BenchError(BenchErrorCode.childFailed, `${command} ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

async function ansible(n: number, dir: string): Promise<number> {
  const inventory = join(dir, `inventory-${n}.ini`);
  const hosts = Array.from(
    { length: n },
    (_, i) => `host${i} ansible_connection=local ansible_python_interpreter=/usr/bin/python3`,
  );
  writeFileSync(inventory, `[fleet]\n${hosts.join('\n')}\n`);
  return timed('ansible', ['all', '-i', inventory, '-m', 'command', '-a', 'true', '-c', 'local', '-f', String(forks)], {
    ...process.env,
    ANSIBLE_HOST_KEY_CHECKING: 'False',
    ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-local'),
    ANSIBLE_REMOTE_TEMP: join(dir, 'ansible-remote'),
    HOME: dir,
  });
}

async function edgestelle(n: number, dir: string): Promise<number> {
  const { master } = await startMasterChild({ topicPrefix: 'edgestelle' });
  try {
    const api = new BenchApi(master.url, master.admin.token);
    const fleet = await startFleet({
      api,
      baseDir: join(dir, 'fleet'),
      count: n,
      namePrefix: `cmp${n}`,
      tags: { compare: String(n) },
      light: false,
    });
    try {
      return await timed(process.execPath, [join(rootDir, 'packages/cli/dist/main.js'), 'run', '--all', '--', 'true'], {
        PATH: process.env.PATH,
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, 'config'),
        EDGESTELLE_URL: master.url,
        EDGESTELLE_TOKEN: master.admin.token,
      });
    } finally {
      await fleet.stop();
    }
  } finally {
    await master[Symbol.asyncDispose]();
  }
}

ensureAnsible();
// The CLI is timed as it ships: compiled.
execFileSync(process.execPath, [join(rootDir, 'node_modules/typescript/bin/tsc'), '-b', 'packages/cli'], {
  cwd: rootDir,
  stdio: 'inherit',
});
await using dir = await tempDir('edgestelle-compare-');
console.log(`load before: ${loadAverage()}`);
console.log(`| N | ansible -f ${forks} (s) | edgestelle run --all (s) | ratio ansible ÷ edgestelle |`);
console.log('|---|---|---|---|');
for (const n of sizes) {
  const ansibleMs = await ansible(n, dir.path);
  const edgestelleMs = await edgestelle(n, dir.path);
  console.log(
    `| ${n.toLocaleString('en')} | ${(ansibleMs / 1000).toFixed(1)} | ${(edgestelleMs / 1000).toFixed(1)} | ${(ansibleMs / edgestelleMs).toFixed(1)} |`,
  );
}
console.log(`load after: ${loadAverage()}`);
