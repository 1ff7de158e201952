// What a V8 heap snapshot holds, by kind of object: count and self size of each constructor (or
// type, for strings, arrays, closures and native objects), largest first, and per `--per N` (the
// live instances of a fleet, say) the bytes each one costs. `--retainers KEY` (a key as printed,
// e.g. "(array)"): what holds the objects of that kind, by the holder's kind and the edge's name.
//   node scripts/bench/heap-top.mjs [--top N] [--per N] [--retainers KEY] FILE.heapsnapshot
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '40' }, per: { type: 'string' }, retainers: { type: 'string' } }, allowPositionals: true });
if (positionals.length !== 1) {
  process.stderr.write('usage: node scripts/bench/heap-top.mjs [--top N] [--per N] [--retainers KEY] FILE.heapsnapshot\n');
  process.exit(2);
}
const snapshot = JSON.parse(readFileSync(positionals[0], 'utf8'));
const meta = snapshot.snapshot.meta;
const fields = meta.node_fields;
const stride = fields.length;
const at = (name) => fields.indexOf(name);
const [TYPE, NAME, SIZE] = [at('type'), at('name'), at('self_size')];
const types = meta.node_types[0];
const { nodes, strings } = snapshot;

/** Objects by constructor; the rest by their type (string contents would make a group each). */
function keyOf(i) {
  const type = types[nodes[i + TYPE]];
  return type === 'object' || type === 'native' ? `${strings[nodes[i + NAME]]} (${type})` : `(${type})`;
}

const groups = new Map();
let total = 0;
for (let i = 0; i < nodes.length; i += stride) {
  const key = keyOf(i);
  const g = groups.get(key) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += nodes[i + SIZE];
  total += nodes[i + SIZE];
  groups.set(key, g);
}
const per = values.per ? Number(values.per) : undefined;
process.stdout.write(`${(total / 1024 / 1024).toFixed(1)} MiB in ${nodes.length / stride} objects${per ? ` (${(total / per).toFixed(0)} B per ${per})` : ''}\n`);
for (const [key, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top))) {
  const each = per ? `  ${(g.bytes / per).toFixed(0).padStart(6)} B/per  ${(g.count / per).toFixed(2).padStart(6)} /per` : '';
  process.stdout.write(`${(g.bytes / 1024).toFixed(0).padStart(9)} KiB ${String(g.count).padStart(9)}${each}  ${key}\n`);
}

if (values.retainers) retainers(values.retainers);

/** Who holds the objects of kind `key`: bytes of them by holder kind and edge name. */
function retainers(key) {
  const edgeFields = meta.edge_fields;
  const [ETYPE, ENAME, ETO] = ['type', 'name_or_index', 'to_node'].map((f) => edgeFields.indexOf(f));
  const edgeTypes = meta.edge_types[0];
  const EDGES = fields.indexOf('edge_count');
  const { edges } = snapshot;
  const held = new Map();
  let e = 0;
  for (let i = 0; i < nodes.length; i += stride) {
    const from = keyOf(i);
    for (let n = nodes[i + EDGES]; n > 0; n--, e += edgeFields.length) {
      const to = edges[e + ETO];
      if (keyOf(to) !== key) continue;
      const type = edgeTypes[edges[e + ETYPE]];
      if (type === 'weak') continue;
      const name = type === 'element' || type === 'hidden' ? `[${type}]` : strings[edges[e + ENAME]];
      const k = `${from} .${name}`;
      const g = held.get(k) ?? { count: 0, bytes: 0 };
      g.count++;
      g.bytes += nodes[to + SIZE];
      held.set(k, g);
    }
  }
  process.stdout.write(`\nheld ${key} (an object held twice counts twice)\n`);
  for (const [k, g] of [...held].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top))) {
    const each = per ? `  ${(g.bytes / per).toFixed(0).padStart(6)} B/per` : '';
    process.stdout.write(`${(g.bytes / 1024).toFixed(0).padStart(9)} KiB ${String(g.count).padStart(9)}${each}  ${k}\n`);
  }
}
