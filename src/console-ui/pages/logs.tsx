// Logs: follows /api/v1/logs/stream with the server-side filters (app, deployment, instance,
// source), after the history /api/v1/logs still has (gone instances' lines too); a text filter
// over the lines kept; counts of what was skipped; download of what the filter shows.
import type { JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { getJson, request } from '../api.js';
import { openEvents, type StreamState } from '../events.js';
import { type LogFilter, parseNdjson, serverQuery, textLine } from '../logfmt.js';
import { LogStore, RING_LINES } from '../logstore.js';
import { href } from '../route.js';
import type { Deployment, Instance, LogLine } from '../types.js';
import { Choice, ErrorLine, message, navigate, useApps } from '../ui.js';
import { LogView } from './logview.js';

const HISTORY_LINES = 10_000;

function filterOf(q: URLSearchParams): LogFilter {
  const source = q.get('source');
  return {
    app: q.get('app') ?? '',
    deployment: q.get('deployment') ?? '',
    instance: q.get('instance') ?? '',
    source: source === 'app' || source === 'entrypoint' ? source : '',
    text: q.get('text') ?? '',
  };
}

/** Redraws at most once a frame however many lines arrive. */
function useFrameTick(): [number, () => void] {
  const [version, setVersion] = useState(0);
  const frame = useRef(0);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  const tick = () => {
    if (!frame.current)
      frame.current = requestAnimationFrame(() => {
        frame.current = 0;
        setVersion((v) => v + 1);
      });
  };
  return [version, tick];
}

export function LogsPage({ query, onSignedOut }: { query: URLSearchParams; onSignedOut: () => void }): JSX.Element {
  const filter = filterOf(query);
  const serverPart = serverQuery(filter);
  const { apps, refresh: refreshApps } = useApps();
  const [deployments, setDeployments] = useState<Deployment[]>([]);
  const [instances, setInstances] = useState<Instance[]>([]);
  const [state, setState] = useState<StreamState>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [follow, setFollow] = useState(true);
  const [version, tick] = useFrameTick();
  const store = useMemo(() => new LogStore(filter), [serverPart]);

  useEffect(() => {
    setError(null);
    const close = openEvents(
      `/api/v1/logs/stream${serverPart}`,
      {
        line: (data) => {
          store.add(JSON.parse(data) as LogLine);
          tick();
        },
        skipped: (data) => {
          store.skipped += (JSON.parse(data) as { count: number }).count;
          tick();
        },
      },
      setState,
      onSignedOut,
    );
    request('GET', `/api/v1/logs${serverQuery(filter, { limit: String(HISTORY_LINES) })}`)
      .then((r) => r.text())
      .then(
        (body) => store.history(parseNdjson<LogLine>(body)),
        (e: unknown) => {
          store.history(null);
          setError(`The history could not be read (${message(e)}); showing new lines only.`);
        },
      )
      .finally(tick);
    return close;
  }, [store]);

  useEffect(() => {
    const q = filter.app ? `?app=${encodeURIComponent(filter.app)}` : '';
    getJson<{ deployments: Deployment[] }>(`/api/v1/deployments${q}`).then((r) => setDeployments(r.deployments), () => setDeployments([]));
    getJson<{ instances: Instance[] }>(`/api/v1/instances${q}`).then((r) => setInstances(r.instances), () => setInstances([]));
  }, [filter.app]);

  useEffect(() => {
    store.setText(filter.text);
    tick();
  }, [store, filter.text]);

  const set = (patch: Partial<LogFilter>) => {
    const f = { ...filter, ...patch };
    navigate(href('logs', { app: f.app, deployment: f.deployment, instance: f.instance, source: f.source, text: f.text }), true);
  };

  const download = () => {
    const text = store.visibleLines().map(textLine).join('\n');
    const url = URL.createObjectURL(new Blob([text ? `${text}\n` : ''], { type: 'text/plain' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `logs-${filter.app || 'all'}-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  const deps = deployments.filter((d) => !filter.app || d.app === filter.app);
  const insts = instances.filter((i) => (!filter.app || i.app === filter.app) && (!filter.deployment || i.deploymentId === filter.deployment));
  return (
    <section class="logs">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <Choice id="log-app" onFocus={refreshApps} label="App" value={filter.app} empty="All apps" options={apps.map((a) => ({ value: a.name }))} onChange={(app) => set({ app, deployment: '', instance: '' })} />
        <Choice id="log-deployment" label="Deployment" value={filter.deployment} empty="All deployments" options={deps.map((d) => ({ value: d.id }))} onChange={(deployment) => set({ deployment, instance: '' })} />
        <Choice id="log-instance" label="Instance" value={filter.instance} empty="All instances" options={insts.map((i) => ({ value: i.id, label: `${i.id} (${i.state})` }))} onChange={(instance) => set({ instance })} />
        <Choice id="log-source" label="Source" value={filter.source} empty="App and entrypoint" options={[{ value: 'app' }, { value: 'entrypoint' }]} onChange={(s) => set({ source: s as LogFilter['source'] })} />
        <label for="log-text">
          <span>Text</span>
          <input id="log-text" type="search" value={filter.text} onInput={(e) => set({ text: (e.target as HTMLInputElement).value })} placeholder="Lines containing…" />
        </label>
      </form>
      <div class="toolbar">
        <p class={`stream ${state}`} role="status">
          {state === 'live' ? (store.waitingForHistory ? 'Loading history…' : 'Following') : state === 'connecting' ? 'Connecting…' : 'Reconnecting…'} ·{' '}
          <span data-testid="log-count">{store.view.length}</span> shown of {store.ring.size} kept
          {store.skipped > 0 && <span class="warn"> · {store.skipped} skipped by the server (this page fell behind)</span>}
          {store.evicted > 0 && <span class="warn"> · {store.evicted} older lines dropped (the page keeps {RING_LINES})</span>}
        </p>
        <label class="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} />
          <span>Follow</span>
        </label>
        <button type="button" onClick={download}>
          Download
        </button>
      </div>
      <ErrorLine error={error} />
      <LogView store={store} version={version} follow={follow} setFollow={setFollow} oneInstance={!!filter.instance} />
    </section>
  );
}
