// The start-up floor of our design (scripts/bench/startup.mjs): a single executable doing only
// what any supervisor built like ours must do to run `true` in disabled mode, and nothing of our
// program. posix.node from its SEA asset (an unnamed file, dlopen'ed), isatty, a listener for
// each forwarded signal and SIGCHLD, a timer keeping the loop alive, posix_spawn with our
// environment, waitid at SIGCHLD, exit with the child's status.
'use strict';
const sea = require('node:sea');
const fs = require('node:fs');

const fd = fs.openSync(process.env.TMPDIR || '/tmp', 0o20000000 | fs.constants.O_DIRECTORY | fs.constants.O_RDWR, 0o700);
fs.writeFileSync(fd, new Uint8Array(sea.getRawAsset('posix.node')));
const addon = { exports: {} };
process.dlopen(addon, `/proc/self/fd/${fd}`);
const posix = addon.exports;
posix.isatty(0);
const FORWARDED = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM', 'SIGCONT', 'SIGTSTP', 'SIGPWR', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGURG', 'SIGIO'];
for (const signal of FORWARDED) process.on(signal, () => {});
let pid;
// A signal listener does not keep Node's loop alive: a timer does, until the child's exit.
setInterval(() => {}, 1000);
process.on('SIGCHLD', () => {
  const status = posix.waitChild(pid);
  if (status) process.exit(status.code ?? 128 + status.signal);
});
const envp = Object.entries(process.env).map(([name, value]) => `${name}=${value}`);
pid = posix.spawn(process.argv[2], process.argv.slice(2), envp, null, 1, 2);
