import { apiErrorSchema, describeIssues } from '@edgestelle/protocol';
import type { z } from 'zod';
import { CliError, CliErrorCode } from './cli-error.ts';

/**
 * The master's REST API (docs/API.md) as the CLI sees it: every response is parsed by its
 * schema from @edgestelle/protocol, and every failure becomes one CliError with a message an
 * operator can act on and the right exit code.
 */

export interface ApiAuth {
  /** `Authorization: Bearer …` — the CLI's normal credential. */
  token?: string;
  /** A console session, used only by `login --user` to create the CLI's token. */
  session?: { cookie: string; csrfToken: string };
}

export type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

const REQUEST_TIMEOUT_MS = 30_000;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly auth: ApiAuth = {},
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  withAuth(auth: ApiAuth): ApiClient {
    return new ApiClient(this.baseUrl, auth, this.timeoutMs);
  }

  get<S extends z.ZodType>(path: string, schema: S, query: Query = {}): Promise<z.infer<S>> {
    return this.json('GET', path, schema, undefined, query);
  }

  post<S extends z.ZodType>(path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    return this.json('POST', path, schema, body ?? {});
  }

  put<S extends z.ZodType>(path: string, schema: S, body: unknown): Promise<z.infer<S>> {
    return this.json('PUT', path, schema, body);
  }

  patch<S extends z.ZodType>(path: string, schema: S, body: unknown): Promise<z.infer<S>> {
    return this.json('PATCH', path, schema, body);
  }

  async delete(path: string): Promise<void> {
    await this.send('DELETE', path);
  }

  /** For routes that answer something other than JSON (raw output) or set cookies (login). */
  async send(method: string, path: string, body?: unknown, query: Query = {}): Promise<Response> {
    const url = this.url(path, query);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.auth.token !== undefined) headers.authorization = `Bearer ${this.auth.token}`;
    if (this.auth.session !== undefined) {
      headers.cookie = this.auth.session.cookie;
      headers['x-csrf-token'] = this.auth.session.csrfToken;
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
    if (!response.ok) throw await errorFromResponse(response, method, path);
    return response;
  }

  private async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    body: unknown,
    query: Query = {},
  ): Promise<z.infer<S>> {
    const response = await this.send(method, path, body, query);
    const parsed = schema.safeParse(await readJson(response, method, path));
    if (!parsed.success) {
      throw new CliError(
        CliErrorCode.badResponse,
        `the master's answer to ${method} ${path} is not what this CLI understands (${describeIssues(parsed.error, 3)}): are the CLI and master the same version?`,
      );
    }
    return parsed.data;
  }

  url(path: string, query: Query = {}): string {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue;
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        url.searchParams.append(key, String(value));
      } else {
        for (const item of value) url.searchParams.append(key, item);
      }
    }
    return url.toString();
  }
}

async function readJson(response: Response, method: string, path: string): Promise<unknown> {
  const text = await response.text();
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch (err) {
    throw new CliError(
      CliErrorCode.badResponse,
      `the master answered ${method} ${path} with something that is not JSON`,
      {
        cause: err,
      },
    );
  }
}

/** Node's fetch hides the reason (ECONNREFUSED, ENOTFOUND, a timeout) in `cause`. */
function networkReason(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer in time';
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) return 'code' in cause && typeof cause.code === 'string' ? cause.code : cause.message;
  return err instanceof Error ? err.message : String(err);
}

export function unreachable(baseUrl: string, err: unknown): CliError {
  return new CliError(CliErrorCode.unreachable, `cannot reach the master at ${baseUrl} (${networkReason(err)})`, {
    cause: err,
  });
}

const codeByStatus: Record<number, CliErrorCode> = {
  400: CliErrorCode.invalidRequest,
  401: CliErrorCode.unauthenticated,
  403: CliErrorCode.forbidden,
  404: CliErrorCode.notFound,
  409: CliErrorCode.conflict,
  413: CliErrorCode.conflict,
  429: CliErrorCode.throttled,
  503: CliErrorCode.unavailable,
};

/** The master's own codes that say more than the status does. */
const codeByApiCode: Record<string, CliErrorCode> = {
  unknown_nodes: CliErrorCode.notFound,
  no_matching_nodes: CliErrorCode.notFound,
  no_online_nodes: CliErrorCode.notFound,
};

/** Retry-After in seconds (what the master sends with 429), as the operator's next step. */
function retryHint(retryAfter: string | null): string {
  const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
  return Number.isInteger(seconds) && seconds >= 0 ? `: try again in ${seconds} s` : ': try again later';
}

async function errorFromResponse(response: Response, method: string, path: string): Promise<CliError> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    body = err;
  }
  const apiError = apiErrorSchema.safeParse(body);
  const code =
    (apiError.success ? codeByApiCode[apiError.data.code] : undefined) ??
    codeByStatus[response.status] ??
    (response.status >= 500 ? CliErrorCode.masterFailed : CliErrorCode.badResponse);
  const said = apiError.success
    ? `${apiError.data.message}${apiError.data.field === undefined || apiError.data.message.includes(apiError.data.field) ? '' : ` (${apiError.data.field})`}`
    : `${method} ${path} answered HTTP ${response.status}`;
  const hint =
    code === CliErrorCode.unauthenticated
      ? ': log in again with edgestelle login (or set EDGESTELLE_TOKEN)'
      : code === CliErrorCode.masterFailed
        ? ` (HTTP ${response.status}; the master's log has the details)`
        : code === CliErrorCode.throttled && !said.includes('try again')
          ? retryHint(response.headers.get('retry-after'))
          : '';
  return new CliError(code, `${said}${hint}`, apiError.success ? { apiCode: apiError.data.code } : {});
}
