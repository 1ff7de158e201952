// The app of the fault suite: writes a numbered line to stdout every FAULT_INTERVAL_MS ms,
//   fault-line seq=<n> t=<ms since the epoch> pid=<pid>
// and the same (seq, time) to the ledger file FAULT_LEDGER, which the suite reads back to know
// what was written and when, whatever reached the server. Runs until a signal ends it.
import { openSync, writeSync } from 'node:fs';

const intervalMs = Number(process.env.FAULT_INTERVAL_MS ?? 20);
const ledgerFile = process.env.FAULT_LEDGER;
const ledger = ledgerFile ? openSync(ledgerFile, 'a') : undefined;
let seq = 0;

if (ledger !== undefined) writeSync(ledger, `start pid=${process.pid} t=${Date.now()}\n`);
setInterval(() => {
  seq++;
  const t = Date.now();
  // The ledger first: a line counted as written even if stdout then blocks (that would show
  // as a gap in the ledger's times, which the suite reports).
  if (ledger !== undefined) writeSync(ledger, `${seq} ${t}\n`);
  process.stdout.write(`fault-line seq=${seq} t=${t} pid=${process.pid}\n`);
}, intervalMs);
