import { ApiClient } from './api-client.ts';
import { CliError, CliErrorCode } from './cli-error.ts';
import { configPath, readConfig } from './config-store.ts';
import { parseMasterUrl } from './parse-args.ts';

export interface Connection {
  api: ApiClient;
  token: string;
}

/**
 * The master and token for a verb: EDGESTELLE_URL and EDGESTELLE_TOKEN win over what
 * `edgestelle login` saved, so scripts and CI need no config file.
 */
export async function connect(env: NodeJS.ProcessEnv): Promise<Connection> {
  const saved = await readConfig(configPath(env));
  const urlText = nonEmpty(env.EDGESTELLE_URL) ?? saved?.url;
  const token = nonEmpty(env.EDGESTELLE_TOKEN) ?? saved?.token;
  if (urlText === undefined || token === undefined) {
    throw new CliError(
      CliErrorCode.notLoggedIn,
      `not logged in${urlText === undefined ? '' : ` to ${urlText}`}: run edgestelle login --url URL, or set EDGESTELLE_URL and EDGESTELLE_TOKEN`,
    );
  }
  return { api: new ApiClient(checkedUrl(env, urlText), { token }), token };
}

/** The master the CLI would talk to, for the verbs that need no login (`version`); undefined if none. */
export async function masterUrl(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const urlText = nonEmpty(env.EDGESTELLE_URL) ?? (await readConfig(configPath(env)))?.url;
  return urlText === undefined ? undefined : checkedUrl(env, urlText);
}

function checkedUrl(env: NodeJS.ProcessEnv, urlText: string): string {
  return parseMasterUrl(urlText, nonEmpty(env.EDGESTELLE_URL) === undefined ? 'saved URL' : 'EDGESTELLE_URL');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
