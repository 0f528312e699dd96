export { loginClient, type AdminClient } from './admin-client.ts';
export { DYNSEC_MASTER, SHIPPED_BROKER_NAME, startShippedMosquitto, type ShippedMosquitto } from './brokers.ts';
export type { AgentOptions, ChildAgent, FleetAgent, InProcessAgent } from './fleet-agent.ts';
export { liveCloseCode, openLive, type LiveClient } from './live-client.ts';
export { cliEnv, collect, runCli, spawnCli, type CliOptions, type CliResult } from './run-cli.ts';
export {
  ADMIN,
  startMaster,
  type AgentsOptions,
  type BrokerKind,
  type DbKind,
  type ChildMaster,
  type FleetMaster,
  type InProcessMaster,
  type StartMasterOptions,
} from './start-master.ts';
export { TestClock } from './test-clock.ts';
export { waitFor, type WaitOptions } from './wait-for.ts';
