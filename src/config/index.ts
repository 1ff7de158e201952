// App configuration from the server: resolved, applied (env, files, our log level), and the
// restarts it causes, coalesced.
export { ConfigApplier, type ConfigApplierOptions } from './applier.js';
export { AppEnv, changedNames, sameEnv } from './app-env.js';
export { DEFAULT_MAX_WAIT_MS, DEFAULT_QUIET_MS, RestartScheduler } from './restart-scheduler.js';
