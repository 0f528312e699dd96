import {
  apiTokenCreatedSchema,
  apiTokenDtoSchema,
  auditPageSchema,
  jobDtoSchema,
  jobHistoryPageSchema,
  joinTokenCreatedSchema,
  joinTokenDtoSchema,
  nodeDtoSchema,
  pageSchema,
  runDtoSchema,
  runHistoryPageSchema,
  scriptDtoSchema,
  scriptSummaryDtoSchema,
  scriptVersionDtoSchema,
  searchPageSchema,
  sessionDtoSchema,
  sessionInfoDtoSchema,
  userAccountDtoSchema,
  type ApiTokenCreate,
  type AuditQuery,
  type JobCreate,
  type JobListQuery,
  type JoinTokenCreate,
  type LoginRequest,
  type NodeUpdate,
  type RunListQuery,
  type ScriptSave,
  type SearchQuery,
  type UserCreate,
  type UserUpdate,
  shellSessionListSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import type { HttpClient } from './http.ts';
import { createScheduleApi } from './schedule-endpoints.ts';

const items = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
/**
 * A query type of the protocol as the console sends it: zod's coerced fields (times, limits)
 * accept `unknown`; over the wire they are numbers or strings.
 */
export type QueryOf<T> = { [K in keyof T]: unknown extends T[K] ? number | string | undefined : T[K] };

const scriptPageSchema = pageSchema(scriptSummaryDtoSchema);
const enc = encodeURIComponent;

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
    /** Newest first, filtered on the server; `counts` are by job state over every filter but `state`. */
    listJobs: (query: QueryOf<JobListQuery>) => http.request('GET', '/jobs', jobHistoryPageSchema, { query }),
    listRuns: (query: QueryOf<RunListQuery>) => http.request('GET', '/runs', runHistoryPageSchema, { query }),
    getJob: (jobId: string) => http.request('GET', `/jobs/${encodeURIComponent(jobId)}`, jobDtoSchema),
    listJobRuns: (jobId: string) =>
      http.request('GET', `/jobs/${encodeURIComponent(jobId)}/runs`, items(runDtoSchema)).then((r) => r.items),
    cancelJob: (jobId: string) => http.request('POST', `/jobs/${encodeURIComponent(jobId)}/cancel`, jobDtoSchema),
    pauseJob: (jobId: string) => http.request('POST', `/jobs/${encodeURIComponent(jobId)}/pause`, jobDtoSchema),
    resumeJob: (jobId: string) => http.request('POST', `/jobs/${encodeURIComponent(jobId)}/resume`, jobDtoSchema),

    cancelRun: (runId: string) => http.request('POST', `/runs/${encodeURIComponent(runId)}/cancel`, runDtoSchema),
    rawOutputUrl: (runId: string) => http.url(`/runs/${encodeURIComponent(runId)}/output/raw`),
    rawOutput: (runId: string) => http.bytes(`/runs/${encodeURIComponent(runId)}/output/raw`),
    listShellSessions: (nodeId: string) =>
      http.request('GET', '/shell-sessions', shellSessionListSchema, { query: { nodeId } }).then((r) => r.items),
    shellRecordingUrl: (sessionId: string) => http.url(`/shell-sessions/${encodeURIComponent(sessionId)}/recording`),
    shellRecording: (sessionId: string) =>
      http.bytes(`/shell-sessions/${encodeURIComponent(sessionId)}/recording`).then((b) => new TextDecoder().decode(b)),

    listApiTokens: () => http.request('GET', '/tokens', items(apiTokenDtoSchema)).then((r) => r.items),
    createApiToken: (body: ApiTokenCreate) => http.request('POST', '/tokens', apiTokenCreatedSchema, { body }),
    revokeApiToken: (tokenId: string) => http.command('DELETE', `/tokens/${encodeURIComponent(tokenId)}`),
    listUsers: () => http.request('GET', '/users', items(userAccountDtoSchema)).then((r) => r.items),
    createUser: (body: UserCreate) => http.request('POST', '/users', userAccountDtoSchema, { body }),
    updateUser: (userId: string, body: UserUpdate) =>
      http.request('PATCH', `/users/${enc(userId)}`, userAccountDtoSchema, { body }),
    resetPassword: (userId: string, password: string) =>
      http.command('POST', `/users/${enc(userId)}/password`, { body: { password } }),
    listSessions: (all: boolean) =>
      http
        .request('GET', '/sessions', items(sessionInfoDtoSchema), { query: { all: all ? true : undefined } })
        .then((r) => r.items),
    revokeSession: (sessionId: string) => http.command('DELETE', `/sessions/${enc(sessionId)}`),
    listAudit: (query: QueryOf<AuditQuery>) => http.request('GET', '/audit', auditPageSchema, { query }),

    listScripts: (q: string | undefined, cursor: string | null) =>
      http.request('GET', '/scripts', scriptPageSchema, { query: { q, cursor: cursor ?? undefined, limit: 200 } }),
    getScript: (name: string, version?: number) =>
      http.request('GET', `/scripts/${enc(name)}`, scriptDtoSchema, { query: { version } }),
    saveScript: (name: string, body: ScriptSave) =>
      http.request('PUT', `/scripts/${enc(name)}`, scriptDtoSchema, { body }),
    listScriptVersions: (name: string) =>
      http.request('GET', `/scripts/${enc(name)}/versions`, items(scriptVersionDtoSchema)).then((r) => r.items),

    search: (query: QueryOf<SearchQuery>) => http.request('GET', '/search', searchPageSchema, { query }),

    listJoinTokens: () => http.request('GET', '/join-tokens', items(joinTokenDtoSchema)).then((r) => r.items),
    createJoinToken: (body: JoinTokenCreate) => http.request('POST', '/join-tokens', joinTokenCreatedSchema, { body }),
    revokeJoinToken: (tokenId: string) => http.command('DELETE', `/join-tokens/${encodeURIComponent(tokenId)}`),
    ...createScheduleApi(http),
  };
}
export type Api = ReturnType<typeof createApi>;
