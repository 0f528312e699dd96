/** The master daemon: `createMaster` for tests and embedding, `main` for `edgestelle master`. */
export { configEnv, configFrom, configHelp, loadConfig } from './config.ts';
export type { ConfigInputs, MasterConfig } from './config.ts';
export { MasterError, MasterErrorCode, httpStatusByCode } from './errors.ts';
export { createMaster } from './master.ts';
export type { Master, MasterDeps } from './master.ts';
export { banner, main } from './main.ts';
export type { MainHooks } from './main.ts';
