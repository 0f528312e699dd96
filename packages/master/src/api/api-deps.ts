import type { FastifyBaseLogger } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { Store } from '../db/store.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { MasterMetrics } from '../metrics/metrics.ts';
import type { Enrollment } from '../nodes/enrollment.ts';
import type { NodeService } from '../nodes/node-service.ts';
import type { Retention } from '../retention/retention.ts';
import type { Dispatcher } from '../runs/dispatcher.ts';
import type { History } from '../runs/history.ts';
import type { ScheduleService } from '../schedules/schedule-service.ts';
import type { ScriptLibrary } from '../scripts/script-library.ts';
import type { WebhookService } from '../webhooks/webhook-service.ts';
import type { LogSearch } from '../search/log-search.ts';
import type { ShellService } from '../shell/shell-service.ts';

/** What the HTTP API is built from: app.ts and every routes-*.ts read it. */
export interface ApiDeps {
  logger: FastifyBaseLogger;
  store: Store;
  auth: AuthService;
  audit: AuditLog;
  scripts: ScriptLibrary;
  history: History;
  search: LogSearch;
  retention: Retention;
  metrics: MasterMetrics;
  dispatcher: Dispatcher;
  nodes: NodeService;
  enrollment: Enrollment;
  hub: LiveHub;
  schedules: ScheduleService;
  webhooks: WebhookService;
  shell: ShellService;
  brokerReady: () => boolean;
  /** Origins a cookie-authenticated live connection may come from (computed once the port is known). */
  allowedOrigins: () => readonly string[];
  publicDir: string | undefined;
  /** Where build-downloads.mjs put the one-file CLI and agent (served under /downloads/). */
  downloadsDir: string;
  /** Mark the session cookie Secure even on plain HTTP: the console is served over https by a proxy. */
  secureCookies: boolean;
  /** Take the client address from X-Forwarded-For (the master is behind a proxy). */
  trustProxy: boolean;
  /** Every route as registered, for the test that checks each refuses the unauthenticated. */
  onRoute?: (route: { method: string | string[]; url: string }) => void;
  /** Open connections, WebSockets included (EDGESTELLE_HTTP_MAX_CONNECTIONS); more are closed at accept. */
  maxConnections: number;
  timeouts?: HttpTimeouts;
}

/** What a client may take to send a request; past it the master answers 408 and closes. */
export interface HttpTimeouts {
  /** From the accept (or the previous response) to the end of the request's headers. */
  headersMs: number;
  /** To the end of the whole request, body included (bodies are at most 1 MiB). */
  requestMs: number;
  /** How often Node looks for connections past either; they are closed within this much after. */
  checkIntervalMs: number;
}
