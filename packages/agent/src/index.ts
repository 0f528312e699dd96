/** The EdgeStelle agent: `main` for `edgestelle agent`, `createAgent` for tests and embedding. */
export { createAgent } from './agent.ts';
export type { Agent, AgentDeps, AgentStats, RejectionCode, RejectionCounts } from './agent.ts';
export { loadConfig, settings } from './config.ts';
export type { AgentConfig, ConfigSources } from './config.ts';
export { enroll } from './enroll.ts';
export type {
  Execution,
  ExecutionHandlers,
  ExecutionRequest,
  ExecutionResult,
  Refusal,
  RunExecutor,
} from './executor.ts';
export type { EnrollOptions, EnrollResult } from './enroll.ts';
export { AgentError, AgentErrorCode } from './errors.ts';
export { main } from './main.ts';
export type { PtySpawner } from './pty-spawner.ts';
export { scriptPtySpawner } from './script-pty.ts';
