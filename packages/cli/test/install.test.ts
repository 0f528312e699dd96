/**
 * The one-file CLI as an operator gets it: built by deploy/build-downloads.mjs, downloaded from
 * a real master's /downloads/, checked against its SHA-256, and run by plain node from a folder
 * with no node_modules; `edgestelle version` against that master and against one that speaks
 * another protocol.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { apiErrorSchema, joinTokenCreatedSchema } from '@edgestelle/protocol';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { collect, runCli, startMaster, type CliResult, type InProcessMaster } from '@edgestelle/fleet-fixture';

const REPO = resolve(import.meta.dirname, '../../..');
const { version: VERSION } = z
  .object({ version: z.string() })
  .parse(JSON.parse(await readFile(join(REPO, 'packages/cli/package.json'), 'utf8')));

let fleet: InProcessMaster;
let work: TempDir;
let downloads: string;
let home: string;
let bin: string;

beforeAll(async () => {
  work = await tempDir('edgestelle-install-cli-');
  downloads = join(work.path, 'downloads');
  const built = await collect(
    spawn(process.execPath, [join(REPO, 'deploy/build-downloads.mjs'), '--outdir', downloads], { stdio: 'pipe' }),
    { timeoutMs: 120_000 },
  );
  expect(built.stderr).toBe('');
  expect(built.status).toBe(0);
  fleet = await startMaster({ deps: { downloadsDir: downloads } });
  home = join(work.path, 'laptop');
  bin = join(home, '.local', 'bin');
  await mkdir(home);
}, 150_000);

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
});

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The downloaded CLI, run as its shebang says, with nothing from this checkout around it. */
function laptopCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return collect(
    spawn(join(bin, 'edgestelle'), args, {
      cwd: work.path,
      env: { PATH: `${resolve(process.execPath, '..')}:/usr/bin:/bin`, HOME: home, ...env },
      stdio: 'pipe',
    }),
  );
}

describe('/downloads/ and the one-file CLI', () => {
  it('serves the CLI and the agent with their SHA-256, in a header and a sha256sum file', async () => {
    for (const name of ['edgestelle', 'edgestelle-agent']) {
      const response = await fetch(`${fleet.url}/downloads/${name}`);
      expect(response.status).toBe(200);
      const body = new Uint8Array(await response.arrayBuffer());
      expect(body.byteLength).toBeGreaterThan(100_000);
      expect(response.headers.get('x-checksum-sha256')).toBe(sha256(body));
      const sums = await fetch(`${fleet.url}/downloads/${name}.sha256`);
      expect(await sums.text()).toBe(`${sha256(body)}  ${name}\n`);
    }
  });

  it('installs with one curl into a bin folder and runs there: version, a client verb, a daemon verb refused', async () => {
    // The command the banner, the README and docs/CLI.md give, as a user's shell runs it.
    const installed = await collect(
      spawn(
        'bash',
        [
          '-c',
          `curl -fsSL --create-dirs ${fleet.url}/downloads/edgestelle -o ~/.local/bin/edgestelle && chmod +x ~/.local/bin/edgestelle`,
        ],
        { env: { PATH: process.env.PATH, HOME: home }, stdio: 'pipe' },
      ),
    );
    expect(installed).toMatchObject({ status: 0, stderr: '' });

    const version = await laptopCli(['version'], { EDGESTELLE_URL: fleet.url });
    expect(version.stderr).toBe('');
    expect(version.stdout).toBe(`CLI:    ${VERSION} (protocol 1)\nMaster: ${VERSION} (protocol 1) at ${fleet.url}\n`);
    expect(version.status).toBe(0);

    const json = await laptopCli(['version', '--json'], { EDGESTELLE_URL: fleet.url });
    expect(JSON.parse(json.stdout)).toEqual({
      cli: { version: VERSION, protocol: 1 },
      master: { url: fleet.url, version: VERSION, protocol: 1 },
    });

    const nodes = await laptopCli(['nodes'], { EDGESTELLE_URL: fleet.url, EDGESTELLE_TOKEN: fleet.admin.token });
    expect(nodes).toMatchObject({ status: 0, stdout: 'No nodes match.\n' });

    const master = await laptopCli(['master']);
    expect(master.status).toBe(64);
    expect(master.stderr).toMatch(
      /^edgestelle: this edgestelle is the one-file client, without `edgestelle master`: run the master from its Docker image/,
    );
  });

  it('says when the master has no downloads, and how to build them', async () => {
    await using empty = await startMaster({ deps: { downloadsDir: join(work.path, 'nothing-here') } });
    const response = await fetch(`${empty.url}/downloads/edgestelle`);
    expect(response.status).toBe(404);
    const body = apiErrorSchema.parse(await response.json());
    expect(body.code).toBe('not_found');
    expect(body.message).toContain('npm run build');
  });
});

describe('edgestelle version', () => {
  it('shows the CLI alone with --client or without a master, and warns when the protocols differ', async () => {
    const alone = await runCli(fleet, ['version', '--client']);
    expect(alone).toMatchObject({ status: 0, stdout: `CLI:    ${VERSION} (protocol 1)\n`, stderr: '' });
    const none = await runCli(fleet, ['version'], { env: { EDGESTELLE_URL: undefined } });
    expect(none.stdout).toContain('Master: none configured (edgestelle login --url URL');

    // A master of another protocol generation cannot be built from this checkout: a stand-in answers.
    const server = createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ version: '9.0.0', protocol: 2 }));
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    try {
      const address = server.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
      const other = await runCli(fleet, ['version'], { env: { EDGESTELLE_URL: url } });
      expect(other.status).toBe(0);
      expect(other.stdout).toContain(`Master: 9.0.0 (protocol 2) at ${url}`);
      expect(other.stderr).toBe(
        `edgestelle: warning: this CLI speaks protocol 1 and the master at ${url} protocol 2: get the matching CLI with: curl -fsSL ${url}/downloads/edgestelle -o ~/.local/bin/edgestelle\n`,
      );
    } finally {
      await new Promise((closed) => server.close(closed));
    }
  });

  it('prints the CLI line, then the error and its exit code, when the master is unreachable', async () => {
    const result = await runCli(fleet, ['version'], { env: { EDGESTELLE_URL: 'http://127.0.0.1:9' } });
    expect(result.status).toBe(69);
    expect(result.stdout).toBe(`CLI:    ${VERSION} (protocol 1)\n`);
    expect(result.stderr).toMatch(/^edgestelle: cannot reach the master at http:\/\/127\.0\.0\.1:9/);
  });
});

/** deploy/install_agent.sh --from-master into a temporary root (no useradd, chown or systemctl). */
function installAgent(root: string, ...args: string[]): Promise<CliResult> {
  return collect(
    spawn('bash', [join(REPO, 'deploy/install_agent.sh'), '--root', root, '--from-master', ...args], { stdio: 'pipe' }),
    { timeoutMs: 60_000 },
  );
}

describe('install_agent.sh --from-master', () => {
  it('downloads the agent from the master, checks its SHA-256, installs and enrolls with it', async () => {
    await using root = await tempDir();
    const { token } = await fleet.admin.api('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, { ttlSec: 600 });
    const result = await installAgent(root.path, '--master', fleet.url, '--token', token, '--no-start');
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(
      `Downloaded the agent from ${fleet.url}/downloads/edgestelle-agent (SHA-256 checked).`,
    );
    expect(result.stdout).toContain('Enrolled.');
    expect(result.status).toBe(0);
    const installed = await readFile(join(root.path, 'opt/edgestelle/edgestelle-agent.mjs'));
    expect(sha256(installed)).toBe(sha256(await readFile(join(downloads, 'edgestelle-agent.mjs'))));
    expect((await stat(join(root.path, 'var/lib/edgestelle/credentials.json'))).isFile()).toBe(true);
  });

  it('refuses a master without the bundle, installing nothing', async () => {
    await using root = await tempDir();
    await using empty = await startMaster({ deps: { downloadsDir: join(work.path, 'nothing-here') } });
    const result = await installAgent(root.path, '--master', empty.url, '--no-enroll');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${empty.url}/downloads/edgestelle-agent answered HTTP 404`);
    expect(result.stderr).toContain(`install_agent.sh: could not download the agent from ${empty.url}`);
    await expect(stat(join(root.path, 'opt/edgestelle'))).rejects.toThrow();
  });
});
