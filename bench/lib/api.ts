import {
  apiErrorSchema,
  jobDtoSchema,
  joinTokenCreatedSchema,
  liveServerMessageSchema,
  runDtoSchema,
  type JobCreate,
  type JobDto,
  type LiveClientMessage,
  type LiveServerMessage,
  type RunDto,
} from '@edgestelle/protocol';
import WebSocket from 'ws';
import { z } from 'zod';
import { BenchError, BenchErrorCode } from './errors.ts';

/** The master's REST API as an operator's script uses it: bearer token, JSON, parsed by the protocol's schemas. */
export class BenchApi {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async request<T>(method: 'GET' | 'POST', path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const json: unknown = text === '' ? null : JSON.parse(text);
    if (!response.ok) {
      const error = apiErrorSchema.safeParse(json);
      throw new BenchError(
        BenchErrorCode.apiFailed,
        `${method} ${path}: HTTP ${response.status} ${error.success ? error.data.message : text}`,
      );
    }
    return schema.parse(json);
  }

  async joinToken(maxUses: number, tags: Record<string, string>): Promise<string> {
    const created = await this.request('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, {
      tags,
      maxUses,
      ttlSec: 3600,
      description: 'bench',
    });
    return created.token;
  }

  createJob(job: JobCreate): Promise<JobDto> {
    return this.request('POST', '/api/v1/jobs', jobDtoSchema, job);
  }

  async runs(jobId: string): Promise<RunDto[]> {
    const page = await this.request('GET', `/api/v1/jobs/${jobId}/runs`, z.object({ items: z.array(runDtoSchema) }));
    return page.items;
  }

  /** Nodes the master has as online, with a tag if given. */
  async onlineCount(tag?: string): Promise<number> {
    const query = tag === undefined ? '' : `&tag=${encodeURIComponent(tag)}`;
    const page = await this.request(
      'GET',
      `/api/v1/nodes?online=true${query}`,
      z.object({ items: z.array(z.unknown()) }),
    );
    return page.items.length;
  }

  /** One live-hub connection, as the console opens it. */
  async live(onMessage: (message: LiveServerMessage, receivedAt: number) => void): Promise<LiveConnection> {
    const ws = new WebSocket(`${this.url.replace(/^http/, 'ws')}/api/v1/live`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    ws.on('message', (raw: Buffer) => {
      const receivedAt = performance.timeOrigin + performance.now();
      const parsed = liveServerMessageSchema.safeParse(JSON.parse(raw.toString('utf8')));
      if (parsed.success) onMessage(parsed.data, receivedAt);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return {
      send: (message) => ws.send(JSON.stringify(message)),
      close: () =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.close();
        }),
    };
  }
}

export interface LiveConnection {
  send(message: LiveClientMessage): void;
  close(): Promise<void>;
}
