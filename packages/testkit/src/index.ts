/** Disposable fixtures for tests: use with `await using`. */
export { startAedes } from './aedes-broker.ts';
export type { AedesBroker } from './aedes-broker.ts';
export { MOSQUITTO_BIN, startMosquitto } from './mosquitto.ts';
export type { Mosquitto, MosquittoOptions } from './mosquitto.ts';
export { freePort, waitForPort } from './ports.ts';
export { POSTGRES_ADMIN_URL, freshPostgresDatabase } from './postgres.ts';
export type { FreshDatabase } from './postgres.ts';
export { tempDir } from './temp-dir.ts';
export type { TempDir } from './temp-dir.ts';
export {
  countNumberedLines,
  faultScale,
  numberedLines,
  numberedLinesScript,
  recordFault,
  sha256,
  sized,
} from './fault-report.ts';
export type { FaultRow, FaultScale, LineCount } from './fault-report.ts';
export { startPostgresCluster } from './postgres-cluster.ts';
export type { PostgresCluster } from './postgres-cluster.ts';
export { startTcpProxy } from './tcp-proxy.ts';
export type { ProxyDirection, TcpProxy } from './tcp-proxy.ts';
export { metricSum } from './prometheus-text.ts';
export { rssBytes } from './proc.ts';
