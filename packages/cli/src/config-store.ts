import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { describeIssues } from '@edgestelle/protocol';
import { z } from 'zod';
import { CliError, CliErrorCode } from './cli-error.ts';

/**
 * Where `edgestelle login` keeps the master's URL and the API token: one JSON file, 0600, in
 * a 0700 folder, so other users on the machine cannot read the token.
 */

const storedConfigSchema = z
  .object({
    url: z.string().min(1),
    token: z.string().min(1),
    /** The token `login` created, so `logout` can revoke it; null for a token given with --token. */
    tokenId: z.string().nullable(),
    username: z.string().nullable(),
  })
  .strict();
export type StoredConfig = z.infer<typeof storedConfigSchema>;

/** `$XDG_CONFIG_HOME/edgestelle`, or `~/.config/edgestelle` (a relative XDG path is ignored, as the spec says). */
export function configDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env.HOME ?? homedir(), '.config');
  return join(base, 'edgestelle');
}

export function configPath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), 'config.json');
}

function isMissing(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT';
}

export async function readConfig(path: string): Promise<StoredConfig | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isMissing(err)) return null;
    throw new CliError(
      CliErrorCode.configIo,
      `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(CliErrorCode.configInvalid, `${path} is not JSON: run edgestelle login again`, { cause: err });
  }
  const parsed = storedConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new CliError(
      CliErrorCode.configInvalid,
      `${path} is damaged (${describeIssues(parsed.error)}): run edgestelle login again`,
    );
  }
  return parsed.data;
}

/** Written to a private temp file and renamed over the old one, so a crash never leaves half a file. */
export async function writeConfig(path: string, dir: string, config: StoredConfig): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    await writeFile(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw new CliError(
      CliErrorCode.configIo,
      `cannot write ${path}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}

/** True when there was a file to remove. */
export async function removeConfig(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw new CliError(
      CliErrorCode.configIo,
      `cannot remove ${path}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}
