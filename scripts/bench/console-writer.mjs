// The app of the console logs bench: writes BENCH_RATE lines a second (default 10 000) for
// BENCH_SECONDS (default 10), paced in 10 ms ticks, each line `seq <n> <filler>`; then says
// `done <n>` on stderr and stays alive until a signal.
const rate = Number(process.env.BENCH_RATE ?? 10_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const total = rate * seconds;
const filler = 'x'.repeat(60);
const t0 = performance.now();
let n = 0;
const tick = () => {
  const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
  let chunk = '';
  while (n < due) chunk += `seq ${n++} ${filler}\n`;
  if (chunk) process.stdout.write(chunk);
  if (n < total) setTimeout(tick, 10);
  else {
    process.stderr.write(`done ${n}\n`);
    setInterval(() => {}, 1 << 30);
  }
};
tick();
