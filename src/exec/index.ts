// Exec sessions (issue 5), loaded with the connection chunk: disabled mode never loads them.
export { type Exec, type ExecOptions, startExec } from './manager.js';
export type { ExecHost } from './process.js';
