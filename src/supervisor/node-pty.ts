// node-pty is loaded only when we run on a terminal: most supervisors never need it, and its
// native part must be unpacked first inside the single binary (see scripts/build.mjs, which
// points node-pty's own addon lookup at src/native/load.ts).
import type * as NodePty from 'node-pty';

let nodePty: typeof NodePty | undefined;

export function loadNodePty(): typeof NodePty {
  nodePty ??= require('node-pty') as typeof NodePty;
  return nodePty;
}
