/**
 * Issue 17, item 4: what the master and the agent keep on disk (password hashes, every run's
 * output, the audit log, keys) is readable by their own user only — whatever the umask, and
 * whatever mode a folder they find already has. Real starts, real files, modes read with lstat.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createAgent, loadConfig } from '@edgestelle/agent';
import { tempDir } from '@edgestelle/testkit';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { configFrom, createMaster } from '../src/index.ts';
import { main } from '../src/main.ts';
import { capturingLogger } from './support/logs.ts';
import { startMaster } from '@edgestelle/fleet-fixture';

const OTHER_UID = 65534;

/** Every folder and file under `root` (itself included) with its mode, e.g. `spool` → `0700`. */
function modes(root: string): Record<string, string> {
  const found: Record<string, string> = {};
  const visit = (path: string): void => {
    const stat = lstatSync(path);
    found[relative(root, path) || '.'] = `0${(stat.mode & 0o7777).toString(8)}`;
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return found;
}

/** What `modes` must say: folders 0700, everything else 0600. */
function privateModes(root: string): Record<string, string> {
  const wanted: Record<string, string> = {};
  for (const name of Object.keys(modes(root))) {
    wanted[name] = lstatSync(join(root, name)).isDirectory() ? '0700' : '0600';
  }
  return wanted;
}

describe('modes of what the master and the agent keep', () => {
  it('makes every folder 0700 and every file 0600 on a real start, -wal and -shm included, under umask 000', async () => {
    const umask = process.umask(0);
    try {
      await using stack = await startMaster();
      const agent = await stack.startAgent('modes-1');
      const job = await stack.admin.createJob({
        target: { nodeIds: ['modes-1'] },
        spec: { command: 'seq 1 2000', timeoutMs: 10_000 },
      });
      const [run] = await stack.admin.runs(job.jobId);
      await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete);

      const dataDir = join(stack.dir, 'master');
      const master = modes(dataDir);
      // Read while the master runs: SQLite keeps its WAL and shared-memory files open.
      expect(Object.keys(master).sort()).toEqual(
        [
          '.',
          'edgestelle.db',
          'edgestelle.db-shm',
          'edgestelle.db-wal',
          'master-id',
          'master.key',
          'mqtt-master-password',
        ].sort(),
      );
      expect(master).toEqual(privateModes(dataDir));
      const state = modes(agent.stateDir);
      expect(Object.keys(state)).toEqual(
        expect.arrayContaining(['.', 'credentials.json', 'connection-seq', 'ledger.jsonl', 'spool']),
      );
      expect(state).toEqual(privateModes(agent.stateDir));
      expect(modes(join(stack.dir, 'agents'))['.']).toBe('0700');

      // An agent that makes its own node id, started with no broker to reach, and stopped.
      const ownId = join(stack.dir, 'own-id');
      const unreachable = createAgent(
        loadConfig({
          flags: {
            stateDir: ownId,
            mqttUrl: 'mqtt://127.0.0.1:1',
            nodeKey: randomBytes(32).toString('base64'),
            keyId: '1',
          },
          env: {},
        }),
        { logger: pino({ level: 'silent' }) },
      );
      await unreachable.start();
      await unreachable.stop();
      expect(Object.keys(modes(ownId)).sort()).toEqual(['.', 'connection-seq', 'ledger.jsonl', 'node-id', 'spool']);
      expect(modes(ownId)).toEqual(privateModes(ownId));
    } finally {
      process.umask(umask);
    }
  });

  for (const mode of [0o755, 0o777]) {
    const shown = `0${mode.toString(8)}`;
    it(`tightens a data dir that exists ${shown}, and the files a person put in it, and says so`, async () => {
      await using dir = await tempDir();
      const dataDir = join(dir.path, 'data');
      mkdirSync(dataDir);
      chmodSync(dataDir, mode);
      // As the message for a broken key suggests making one: with the umask's mode.
      writeFileSync(join(dataDir, 'master.key'), randomBytes(32));
      chmodSync(join(dataDir, 'master.key'), 0o644);
      // An earlier master's database, made 0644 by SQLite (empty: a new database).
      writeFileSync(join(dataDir, 'edgestelle.db'), '');
      chmodSync(join(dataDir, 'edgestelle.db'), 0o644);
      const { logger, logged } = capturingLogger('warn');
      const master = await createMaster(configFrom({ dataDir, httpPort: '0', mqttPort: '0', logLevel: 'warn' }), {
        logger,
        sweepIntervalMs: 0,
      });
      try {
        const found = modes(dataDir);
        expect(found).toEqual(privateModes(dataDir));
        expect(found['.']).toBe('0700');
        expect(found['initial-admin-password']).toBe('0600');
        const warnings = logged.filter((line) => line.level === 40).map((line) => line.msg);
        expect(warnings).toEqual(
          expect.arrayContaining([
            `the data dir ${dataDir} was open to other users: made it 0700`,
            `${join(dataDir, 'master.key')} was open to other users: made it 0600`,
            `${join(dataDir, 'edgestelle.db')} was open to other users: made it 0600`,
          ]),
        );
      } finally {
        await master.close();
      }
    });

    it(`tightens an agent's state dir that exists ${shown}, at enrollment and start`, async () => {
      await using stack = await startMaster();
      const stateDir = join(stack.dir, 'agents', 'modes-2');
      mkdirSync(stateDir, { recursive: true });
      chmodSync(stateDir, mode);
      const agent = await stack.startAgent('modes-2');
      expect(agent.stateDir).toBe(stateDir);
      expect(modes(stateDir)).toEqual(privateModes(stateDir));
      expect(modes(stateDir)['.']).toBe('0700');
    });
  }

  // Only root can give a folder to another user here; anyone else has nothing to test with.
  it.runIf(process.getuid?.() === 0)(
    "refuses a data dir or state dir open to others that is another user's, and writes nothing in it",
    async () => {
      await using dir = await tempDir();
      const dataDir = join(dir.path, 'data');
      mkdirSync(dataDir);
      chmodSync(dataDir, 0o755);
      chownSync(dataDir, OTHER_UID, OTHER_UID);
      let out = '';
      const code = await main(['--data-dir', dataDir, '--http-port', '0', '--mqtt-port', '0'], {
        env: { EDGESTELLE_LOG_LEVEL: 'silent' },
        out: (text) => (out += text),
        stopSignal: Promise.resolve(),
      });
      expect(code).toBe(78);
      expect(out).toContain(
        `the data dir ${dataDir} is open to other users (mode 0755) and belongs to uid ${OTHER_UID}, not to the master's uid 0: chown it to the master's user, or chmod 700 it`,
      );
      expect(readdirSync(dataDir)).toEqual([]);
      expect(modes(dataDir)['.']).toBe('0755');

      const stateDir = join(dir.path, 'state');
      mkdirSync(stateDir);
      chmodSync(stateDir, 0o777);
      chownSync(stateDir, OTHER_UID, OTHER_UID);
      const config = loadConfig({
        flags: {
          stateDir,
          mqttUrl: 'mqtt://127.0.0.1:1',
          nodeId: 'modes-3',
          nodeKey: randomBytes(32).toString('base64'),
          keyId: '1',
        },
        env: {},
      });
      expect(() => createAgent(config, { logger: pino({ level: 'silent' }) })).toThrow(
        expect.objectContaining({
          code: 'state_dir_unusable',
          message: `the state dir ${stateDir} is open to other users (mode 0777) and belongs to uid ${OTHER_UID}, not to the agent's uid 0: chown it to the agent's user, or chmod 700 it`,
        }),
      );
      expect(existsSync(join(stateDir, 'node-id'))).toBe(false);
      expect(modes(stateDir)['.']).toBe('0777');
    },
  );
});
