// Line accounting: what the app wrote (its ledger) against what readers of the server got,
// each written line placed in time against the cuts (a server killed or stopped). Pure: times
// in, counts out, so that the rules are plain to read.
//
// Per cut: `at` (the kill or stop), `noticedAt` (the entrypoint's "lost the server connection"
// line), `reconnectedAt` (its next "connected to the server" line). A written line is
//   - at a cut, when written in [at - marginMs, noticedAt]: it may have been in flight on the
//     connection that died (the shipper sends at most once, never twice); counted, not asserted;
//   - in the backlog, when written in (noticedAt, reconnectedAt]: kept while disconnected (up to
//     WAYPOINT_CEB_LOG_BUFFER, 1 MiB) and sent on reconnect: must arrive;
//   - connected, otherwise: must arrive.

export const LINE = /^fault-line seq=(\d+) t=(\d+) pid=(\d+)$/;

/** The ledger file's text → { pid, startedAt, entries: [{ seq, t }] } (entries in write order). */
export function parseLedger(text) {
  const entries = [];
  let pid;
  let startedAt;
  let starts = 0;
  const lines = text.split('\n');
  lines.pop(); // '' after the last newline, or a line the app is writing right now
  for (const line of lines) {
    if (!line) continue;
    const start = /^start pid=(\d+) t=(\d+)$/.exec(line);
    if (start) {
      starts++;
      pid = Number(start[1]);
      startedAt = Number(start[2]);
      continue;
    }
    const [seq, t] = line.split(' ').map(Number);
    entries.push({ seq, t });
  }
  return { pid, startedAt, starts, entries };
}

/** What readers got: seq → { pid, incarnations: Set } plus duplicates across incarnations. */
export class Arrivals {
  constructor() {
    this.bySeq = new Map();
    /** Lines delivered by two server incarnations: sent twice. */
    this.duplicates = 0;
    /** Lines that did not parse as the writer's. */
    this.foreign = 0;
    /** The newest write time seen, per incarnation. */
    this.newest = new Map();
  }

  add(text, incarnation) {
    const m = LINE.exec(text);
    if (!m) {
      this.foreign++;
      return;
    }
    const seq = Number(m[1]);
    const t = Number(m[2]);
    const known = this.bySeq.get(seq);
    if (known) {
      if (!known.incarnations.has(incarnation)) {
        known.incarnations.add(incarnation);
        this.duplicates++;
      }
    } else {
      this.bySeq.set(seq, { pid: Number(m[3]), t, incarnations: new Set([incarnation]) });
    }
    if (t > (this.newest.get(incarnation) ?? 0)) this.newest.set(incarnation, t);
  }

  /** The newest write time any reader of `incarnation` got (0: none yet). */
  newestWrite(incarnation) {
    return this.newest.get(incarnation) ?? 0;
  }

  /** The pids seen in arrived lines. */
  pids() {
    return new Set([...this.bySeq.values()].map((a) => a.pid));
  }
}

/** Where a line written at `t` falls: 'cut', 'backlog' or 'connected'. */
export function placeLine(t, cuts, marginMs) {
  for (const cut of cuts) {
    if (t < cut.at - marginMs) break; // cuts are in time order
    if (t <= cut.noticedAt) return 'cut';
    if (t <= cut.reconnectedAt) return 'backlog';
  }
  return 'connected';
}

/**
 * Accounts every ledger entry written up to `endAt`.
 * @param {{ entries: Array<{seq:number,t:number}> }} ledger
 * @param {Arrivals} arrivals
 * @param {Array<{at:number,noticedAt:number,reconnectedAt:number,kind:string}>} cuts in time order
 */
export function account(ledger, arrivals, cuts, { endAt, marginMs }) {
  const counts = {
    written: 0,
    arrived: 0,
    lost: 0,
    byPlace: {
      connected: { written: 0, lost: 0 },
      cut: { written: 0, lost: 0 },
      backlog: { written: 0, lost: 0 },
    },
    /** Lost lines at cuts, by the kind of cut. */
    cutLostByKind: {},
    /** The oldest a line lost at a cut was when the cut came (ms before it). */
    maxLostBeforeCutMs: 0,
    examples: { connected: [], backlog: [] },
    /** The longest pause between two writes of the app (a blocked stdout shows here). */
    maxWriteGapMs: 0,
  };
  let previousT;
  let cutIndex = 0;
  for (const { seq, t } of ledger.entries) {
    if (t > endAt) break;
    if (previousT !== undefined) counts.maxWriteGapMs = Math.max(counts.maxWriteGapMs, t - previousT);
    previousT = t;
    // Skip cuts that are wholly in the past: entries are in time order.
    while (cutIndex < cuts.length && t > cuts[cutIndex].reconnectedAt) cutIndex++;
    const place = placeLine(t, cuts.slice(cutIndex, cutIndex + 1), marginMs);
    counts.written++;
    counts.byPlace[place].written++;
    if (arrivals.bySeq.has(seq)) {
      counts.arrived++;
      continue;
    }
    counts.lost++;
    counts.byPlace[place].lost++;
    if (place === 'cut') {
      const cut = cuts[cutIndex];
      counts.cutLostByKind[cut.kind] = (counts.cutLostByKind[cut.kind] ?? 0) + 1;
      counts.maxLostBeforeCutMs = Math.max(counts.maxLostBeforeCutMs, cut.at - t);
    } else if (counts.examples[place].length < 10) {
      counts.examples[place].push({ seq, t });
    }
  }
  return counts;
}
