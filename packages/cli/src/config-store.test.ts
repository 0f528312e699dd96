import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { CliError } from './cli-error.ts';
import { configDir, configPath, readConfig, removeConfig, writeConfig } from './config-store.ts';

describe('config store', () => {
  it('uses XDG_CONFIG_HOME when absolute, else ~/.config', () => {
    expect(configDir({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/u' })).toBe('/x/cfg/edgestelle');
    expect(configDir({ XDG_CONFIG_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.config/edgestelle');
    expect(configPath({ HOME: '/home/u' })).toBe('/home/u/.config/edgestelle/config.json');
  });

  it('writes a 0600 file in a 0700 folder and reads it back', async () => {
    await using dir = await tempDir();
    const env = { XDG_CONFIG_HOME: dir.path };
    const config = { url: 'http://127.0.0.1:1', token: 'secret', tokenId: null, username: 'ops' };
    await writeConfig(configPath(env), configDir(env), config);
    expect((await stat(configPath(env))).mode & 0o777).toBe(0o600);
    expect((await stat(configDir(env))).mode & 0o777).toBe(0o700);
    expect(await readConfig(configPath(env))).toEqual(config);
    expect(await removeConfig(configPath(env))).toBe(true);
    expect(await readConfig(configPath(env))).toBeNull();
    expect(await removeConfig(configPath(env))).toBe(false);
  });

  it('reports a damaged file as a config error that says what to do', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'config.json');
    await writeFile(path, '{"url": 1}');
    await expect(readConfig(path)).rejects.toSatisfy(
      (err) => err instanceof CliError && err.code === 'config_invalid' && err.message.includes('edgestelle login'),
    );
  });
});
