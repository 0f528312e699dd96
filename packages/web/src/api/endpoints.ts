import {
  apiTokenCreatedSchema,
  apiTokenDtoSchema,
  jobDtoSchema,
  joinTokenCreatedSchema,
  joinTokenDtoSchema,
  nodeDtoSchema,
  pageSchema,
  runDtoSchema,
  sessionDtoSchema,
  type ApiTokenCreate,
  type JobCreate,
  type JoinTokenCreate,
  type LoginRequest,
  type NodeUpdate,
} from '@edgestelle/protocol';
import { z } from 'zod';
import type { HttpClient } from './http.ts';

const items = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
const jobPageSchema = pageSchema(jobDtoSchema);

/** One typed function per route of docs/API.md that the console uses. */
export function createApi(http: HttpClient) {
  return {
    login: (body: LoginRequest) => http.request('POST', '/auth/login', sessionDtoSchema, { body, quiet: true }),
    logout: () => http.command('POST', '/auth/logout'),
    /** Quiet: a 401 here only means "not logged in yet". */
    me: () => http.request('GET', '/auth/me', sessionDtoSchema, { quiet: true }),

    listNodes: () => http.request('GET', '/nodes', items(nodeDtoSchema)).then((r) => r.items),
    getNode: (nodeId: string) => http.request('GET', `/nodes/${encodeURIComponent(nodeId)}`, nodeDtoSchema),
    updateNode: (nodeId: string, body: NodeUpdate) =>
      http.request('PATCH', `/nodes/${encodeURIComponent(nodeId)}`, nodeDtoSchema, { body }),

    createJob: (body: JobCreate) => http.request('POST', '/jobs', jobDtoSchema, { body }),
    listJobs: (cursor: string | null, limit = 50) =>
      http.request('GET', '/jobs', jobPageSchema, { query: { cursor: cursor ?? undefined, limit } }),
    getJob: (jobId: string) => http.request('GET', `/jobs/${encodeURIComponent(jobId)}`, jobDtoSchema),
    listJobRuns: (jobId: string) =>
      http.request('GET', `/jobs/${encodeURIComponent(jobId)}/runs`, items(runDtoSchema)).then((r) => r.items),
    cancelJob: (jobId: string) => http.request('POST', `/jobs/${encodeURIComponent(jobId)}/cancel`, jobDtoSchema),

    cancelRun: (runId: string) => http.request('POST', `/runs/${encodeURIComponent(runId)}/cancel`, runDtoSchema),
    rawOutputUrl: (runId: string) => http.url(`/runs/${encodeURIComponent(runId)}/output/raw`),
    rawOutput: (runId: string) => http.bytes(`/runs/${encodeURIComponent(runId)}/output/raw`),

    listApiTokens: () => http.request('GET', '/tokens', items(apiTokenDtoSchema)).then((r) => r.items),
    createApiToken: (body: ApiTokenCreate) => http.request('POST', '/tokens', apiTokenCreatedSchema, { body }),
    revokeApiToken: (tokenId: string) => http.command('DELETE', `/tokens/${encodeURIComponent(tokenId)}`),
    listJoinTokens: () => http.request('GET', '/join-tokens', items(joinTokenDtoSchema)).then((r) => r.items),
    createJoinToken: (body: JoinTokenCreate) => http.request('POST', '/join-tokens', joinTokenCreatedSchema, { body }),
    revokeJoinToken: (tokenId: string) => http.command('DELETE', `/join-tokens/${encodeURIComponent(tokenId)}`),
  };
}
export type Api = ReturnType<typeof createApi>;
