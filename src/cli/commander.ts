// commander for `waypoint-entrypoint`, as a chunk of its own (scripts/build.mjs, src/chunks.ts):
// only options, --help, --version and usage errors need it, and its 120 KB of JavaScript in the
// main bundle would cost every start of the app, even as code that never runs.
export { Command, CommanderError } from 'commander';
