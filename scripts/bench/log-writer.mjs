// The app of the logs bench: writes BENCH_LINES lines of exactly 100 bytes to stdout, one
// process.stdout.write per line (as console.log would), then reports on stderr when it was done
// and when its process started (`done <ms since the epoch> <ms since the epoch>`). With BENCH_HOLD=1 it then stays alive (until a signal), so that
// the entrypoint in front of it keeps shipping what it has not sent yet.
const lines = Number(process.env.BENCH_LINES ?? 1_000_000);
const filler = 'x'.repeat(100);

let i = 0;
function writeSome() {
  // Synchronous to a file or /dev/null, and to a pipe on Linux; `false` only when a pipe's
  // buffer is full, then wait for it to drain as an app should.
  while (i < lines) {
    const line = `${String(i).padStart(9, '0')} ${filler}`.slice(0, 99) + '\n';
    i++;
    if (!process.stdout.write(line)) return void process.stdout.once('drain', writeSome);
  }
  process.stderr.write(`done ${Date.now()} ${Math.round(performance.timeOrigin)}\n`);
  if (process.env.BENCH_HOLD === '1') setInterval(() => {}, 1 << 30);
}
writeSome();
