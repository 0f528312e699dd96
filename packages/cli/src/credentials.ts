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
  const url = parseMasterUrl(urlText, nonEmpty(env.EDGESTELLE_URL) === undefined ? 'saved URL' : 'EDGESTELLE_URL');
  return { api: new ApiClient(url, { token }), token };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
