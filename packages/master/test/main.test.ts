import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.ts';

describe('edgestelle master (main)', () => {
  it('starts, prints a banner with console URL, admin login and broker URL, keeps the password file, and stops', async () => {
    await using dir = await tempDir();
    const dataDir = join(dir.path, 'data');
    let out = '';
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const exit = main(['--data-dir', dataDir, '--http-port', '0'], {
      env: { EDGESTELLE_LOG_LEVEL: 'error' },
      out: (text) => (out += text),
      onReady: () => {
        stop();
        return Promise.resolve(() => Promise.resolve());
      },
      stopSignal: stopped,
    });
    expect(await exit).toBe(0);
    expect(out).toMatch(/console and API\s+http:\/\/127\.0\.0\.1:\d+\//);
    // The one command that puts the CLI on PATH, from this master.
    expect(out).toMatch(
      /CLI on your PATH .*curl -fsSL --create-dirs http:\/\/127\.0\.0\.1:\d+\/downloads\/edgestelle -o ~\/\.local\/bin\/edgestelle/,
    );
    const password = /admin login\s+admin \/ (\S+)/.exec(out)?.[1];
    expect(password).toBeDefined();
    const { readFile, stat } = await import('node:fs/promises');
    expect((await readFile(join(dataDir, 'initial-admin-password'), 'utf8')).trim()).toBe(password);
    expect((await stat(join(dataDir, 'master.key'))).mode & 0o777).toBe(0o600);
    // A second start points at the kept password instead of printing it again.
    let second = '';
    const again = await main(['--data-dir', dataDir, '--http-port', '0'], {
      env: { EDGESTELLE_LOG_LEVEL: 'error' },
      out: (text) => (second += text),
      stopSignal: Promise.resolve(),
    });
    expect(again).toBe(0);
    expect(second).toContain(`admin login       admin / the password in ${join(dataDir, 'initial-admin-password')}`);
    expect(second).not.toContain(password ?? '-');
    // Here 1883 is taken by the machine's Mosquitto; on a bare machine the broker gets 1883.
    const broker = /MQTT broker\s+embedded, mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
    if (broker !== '1883') expect(out).toMatch(/port 1883 is in use/);
  });

  it('refuses an explicitly set MQTT port that is taken, saying which', async () => {
    await using dir = await tempDir();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    let out = '';
    const code = await main(['--data-dir', dir.path, '--http-port', '0', '--mqtt-port', String(port)], {
      env: { EDGESTELLE_LOG_LEVEL: 'silent' },
      out: (text) => (out += text),
      stopSignal: Promise.resolve(),
    });
    blocker.close();
    expect(code).toBe(78);
    expect(out).toContain(`MQTT port 127.0.0.1:${port} is already in use`);
  });

  it('reports bad config with exit code 78', async () => {
    let out = '';
    const code = await main(['--http-port', 'eighty'], { env: {}, out: (text) => (out += text) });
    expect(code).toBe(78);
    expect(out).toContain('EDGESTELLE_HTTP_PORT');
  });
});
