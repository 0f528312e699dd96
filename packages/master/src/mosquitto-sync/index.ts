export { MASTER_ROLE, MosquittoSync, nodeRoleName } from './mosquitto-sync.ts';
export type { MosquittoSyncOptions } from './mosquitto-sync.ts';
