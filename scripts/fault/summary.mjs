// The fault suite's closing summary: one table of figures, then every failed check.
import { markdownTable, median } from '../bench/lib.mjs';

const mib = (x) => (x === undefined ? 'n/a' : `${x.toFixed(1)} MiB`);
const sec = (ms) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);

function reconnectFigures(cycles) {
  const times = cycles.map((c) => c.reconnectMs).filter((x) => x !== undefined).sort((a, b) => a - b);
  const worst = cycles.reduce((w, c) => (c.reconnectMs !== undefined && (!w || c.reconnectMs - c.boundMs > w.reconnectMs - w.boundMs) ? c : w), undefined);
  if (times.length === 0) return 'n/a';
  return `median ${sec(median(times))}, max ${sec(times.at(-1))}; closest to its bound: cycle ${worst.n}, ${sec(worst.reconnectMs)} of ${sec(worst.boundMs)} (down ${sec(worst.downMs)})`;
}

function lineRows(lines) {
  if (!lines) return [['lines', 'not counted (the run stopped early)']];
  const { connected, cut, backlog } = lines.byPlace;
  const kinds = Object.entries(lines.cutLostByKind)
    .map(([k, v]) => `${v} at ${k === 'kill' ? 'kills' : 'the partition'}`)
    .join(', ');
  return [
    ['lines written / arrived / lost', `${lines.written} / ${lines.arrived} / ${lines.lost}`],
    ['  written while connected: lost', `${connected.lost} of ${connected.written}`],
    ['  written at a cut (≤ 1 s before it, until noticed): lost', `${cut.lost} of ${cut.written}${kinds ? ` (${kinds})` : ''}${cut.lost ? `; oldest ${lines.maxLostBeforeCutMs} ms before its cut` : ''}`],
    ['  written while disconnected (backlog): lost', `${backlog.lost} of ${backlog.written}`],
    ["  the app's longest pause between two lines", `${lines.maxWriteGapMs} ms (it writes every 20 ms)`],
  ];
}

function partitionRows(p) {
  if (!p) return [['partition', 'not run']];
  return [
    ['partition (SIGSTOP)', sec(p.partitionMs)],
    ['  noticed by keepalive after', `${sec(p.detectMs)}${p.reason ? ` (${p.reason})` : ''}`],
    ['  app kept', p.appKept ? 'yes, same pid' : 'NO'],
    ['  re-registered after SIGCONT', sec(p.reconnectMs)],
    ['  new lines arrived after SIGCONT', sec(p.newLinesMs)],
  ];
}

function diskRows(d) {
  if (!d) return [['disk full', 'not run (--no-disk)']];
  if (d.skipped) return [['disk full', `SKIPPED: ${d.skipped}`]];
  return [
    ['disk full: tmpfs filled with', `${(d.filledBytes / 1024).toFixed(0)} KiB`],
    ['  config set on the full disk', d.setError || '(no error)'],
    ['  restart on the full disk', d.restart ?? 'n/a'],
    ['  vars set before, after freeing space', d.intact ?? 'n/a'],
  ];
}

export function printSummary(ctx, results, { elapsedS }) {
  const { opts, rss } = ctx;
  const rows = [
    ['cycles survived', `${ctx.survived ?? 0}/${opts.cycles}`],
    ['re-registration after a restart (from the kill)', reconnectFigures(ctx.cycles)],
    ...lineRows(ctx.lines),
    ['entrypoint RSS: connected / cycle 1 / last / max', rss ? `${mib(rss.start)} / ${mib(rss.first)} / ${mib(rss.last)} / ${mib(rss.max)}` : 'n/a'],
    ...partitionRows(ctx.partition),
    ...diskRows(ctx.disk),
    ['checks passed', `${results.filter((r) => r.ok).length}/${results.length}`],
    ['wall time', `${elapsedS.toFixed(0)} s`],
  ];
  console.log(`\n${markdownTable(['what', 'figure'], rows.map(([a, b]) => [a, String(b).replaceAll('|', '\\|')]))}\n`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) console.log('fault: all checks passed');
  else for (const r of failed) console.log(`FAILED: ${r.name}${r.detail ? `: ${r.detail}` : ''}`);
}
