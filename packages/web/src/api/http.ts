import { apiErrorSchema } from '@edgestelle/protocol';
import type { z } from 'zod';
import { WebError, WebErrorCode } from '../errors.ts';
import { messages } from '../i18n/index.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Do not raise the error toast: the caller shows the failure in place (e.g. the login form). */
  quiet?: boolean;
}

export interface HttpClientHooks {
  /** A request came back 401: the session is gone. */
  onUnauthenticated(): void;
  /** The single place an error reaches the operator as a toast. */
  onError(message: string): void;
}

/**
 * The console's only HTTP client: same-origin cookie session, the CSRF header on writes,
 * every response parsed by its protocol schema, every failure turned into a WebError.
 */
export class HttpClient {
  private csrfToken: string | null = null;

  constructor(
    private readonly hooks: HttpClientHooks,
    private readonly baseUrl = '/api/v1',
  ) {}

  setCsrfToken(token: string | null): void {
    this.csrfToken = token;
  }

  url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) params.append(key, String(item));
      else params.append(key, String(value));
    }
    const search = params.toString();
    return `${this.baseUrl}${path}${search === '' ? '' : `?${search}`}`;
  }

  /** A request whose answer is parsed by `schema`. */
  async request<T>(method: HttpMethod, path: string, schema: z.ZodType<T>, options: RequestOptions = {}): Promise<T> {
    const text = await this.exchange(method, path, options);
    const parsed = schema.safeParse(jsonOrNull(text));
    if (parsed.success) return parsed.data;
    return this.fail(
      new WebError(WebErrorCode.badResponse, messages.value.errors.badResponse, { cause: parsed.error }),
      options,
    );
  }

  /** A request answered without a body (204). */
  async command(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<void> {
    await this.exchange(method, path, options);
  }

  /** A GET answered with raw bytes (a run's output). */
  async bytes(path: string, options: RequestOptions = {}): Promise<ArrayBuffer> {
    const response = await this.respond('GET', path, options);
    return response.arrayBuffer();
  }

  private async exchange(method: HttpMethod, path: string, options: RequestOptions): Promise<string> {
    const response = await this.respond(method, path, options);
    return response.text();
  }

  private async respond(method: HttpMethod, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrfToken !== null) headers['x-csrf-token'] = this.csrfToken;
    let response: Response;
    try {
      response = await fetch(this.url(path, options.query), {
        method,
        headers,
        credentials: 'same-origin',
        body: options.body === undefined ? null : JSON.stringify(options.body),
      });
    } catch (cause) {
      return this.fail(new WebError(WebErrorCode.network, messages.value.errors.network, { cause }), options);
    }
    if (!response.ok) return this.fail(errorFromResponse(response.status, await response.text()), options);
    return response;
  }

  private fail(error: WebError, options: RequestOptions): never {
    if (error.status === 401) this.hooks.onUnauthenticated();
    else if (options.quiet !== true) this.hooks.onError(error.message);
    throw error;
  }
}

/** A body that is not JSON (a proxy's error page) parses as null and then fails its schema. */
function jsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function errorFromResponse(status: number, text: string): WebError {
  if (status === 401) return new WebError('unauthenticated', messages.value.errors.sessionExpired, { status });
  const body = apiErrorSchema.safeParse(jsonOrNull(text));
  if (!body.success) {
    return new WebError(`http_${status}`, `${messages.value.errors.badResponse} (HTTP ${status})`, { status });
  }
  const message = body.data.code === 'forbidden' ? messages.value.errors.forbidden : body.data.message;
  return new WebError(body.data.code, message, {
    status,
    ...(body.data.field === undefined ? {} : { field: body.data.field }),
  });
}
