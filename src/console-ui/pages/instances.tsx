// Instances: every app, its deployments and their instances, live from the instances stream —
// state, exec enabled, log lines, URL — with no reload. Gone instances stay listed (dimmed)
// while the server remembers them.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { useLiveInstances } from '../live.js';
import { href } from '../route.js';
import type { Instance } from '../types.js';
import { Id, Link, when } from '../ui.js';

/** app → deployment → instances (connected first, then by id), apps and deployments sorted. */
export function group(list: Iterable<Instance>): [string, [string, Instance[]][]][] {
  const apps = new Map<string, Map<string, Instance[]>>();
  for (const i of list) {
    let deps = apps.get(i.app);
    if (!deps) apps.set(i.app, (deps = new Map()));
    let insts = deps.get(i.deploymentId);
    if (!insts) deps.set(i.deploymentId, (insts = []));
    insts.push(i);
  }
  const rank = { connected: 0, disconnected: 1, gone: 2 } as const;
  return [...apps]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([app, deps]) => [
      app,
      [...deps]
        .sort(([a], [b]) => b.localeCompare(a))
        .map(([d, insts]) => [d, insts.sort((x, y) => rank[x.state] - rank[y.state] || x.id.localeCompare(y.id))] as [string, Instance[]]),
    ]);
}

export function InstancesPage({ onSignedOut }: { onSignedOut: () => void }): JSX.Element {
  const { instances, state } = useLiveInstances(onSignedOut);
  const [showGone, setShowGone] = useState(true);
  const list = [...instances.values()].filter((i) => showGone || i.state !== 'gone');
  const groups = group(list);
  const connected = [...instances.values()].filter((i) => i.state === 'connected').length;

  return (
    <section>
      <div class="toolbar">
        <p class={`stream ${state}`} role="status" aria-live="polite">
          {state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Reconnecting…'} · {connected} connected of {instances.size}
        </p>
        <label class="check">
          <input type="checkbox" checked={showGone} onChange={(e) => setShowGone((e.target as HTMLInputElement).checked)} />
          <span>Show gone instances</span>
        </label>
      </div>
      {groups.length === 0 && state === 'live' && <p class="empty">No instances yet: start an app under waypoint-entrypoint with a deployment's invite token.</p>}
      {groups.map(([app, deps]) => (
        <section key={app} class="app" data-app={app}>
          <h2>
            {app}{' '}
            <Link class="small" href={href('logs', { app })}>
              logs
            </Link>{' '}
            <Link class="small" href={href('config', { app })}>
              config
            </Link>
          </h2>
          {deps.map(([dep, insts]) => {
            // The replica column once the instances are on more than one (replicas on PostgreSQL).
            const replicated = new Set(insts.map((i) => i.replica?.id ?? '')).size > 1 || insts.some((i) => i.replica && !i.replica.alive);
            return (
              <div key={dep} class="table-wrap">
                <table class="stack">
                  <caption>
                    Deployment <Id id={dep} />
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">Instance</th>
                      <th scope="col">State</th>
                      <th scope="col">Exec</th>
                      <th scope="col">Log lines</th>
                      <th scope="col">URL</th>
                      <th scope="col">Connected</th>
                      <th scope="col">Last seen</th>
                      {replicated && <th scope="col">Replica</th>}
                      <th scope="col">Open</th>
                    </tr>
                  </thead>
                  <tbody>
                    {insts.map((i) => (
                      <InstanceRow key={i.id} i={i} replicated={replicated} />
                    ))}
                  </tbody>
                </table>
              </div>
            );
          })}
        </section>
      ))}
    </section>
  );
}

function InstanceRow({ i, replicated }: { i: Instance; replicated: boolean }): JSX.Element {
  return (
    <tr data-instance={i.id} data-state={i.state} class={i.state}>
      <td data-label="Instance">
        <Id id={i.id} />
      </td>
      <td data-label="State">
        <span class={`badge ${i.state}`}>{i.state}</span>
        {i.status && i.status !== 'RUNNING' && (
          <span class="error" title={i.statusMessage ?? undefined}>
            {' '}
            {i.status}
          </span>
        )}
      </td>
      <td data-label="Exec">{i.execEnabled === null ? '—' : i.execEnabled ? 'yes' : 'no'}</td>
      <td data-label="Log lines" class="num">{i.logLines ?? '—'}</td>
      <td data-label="URL">
        {i.url ? (
          <a href={i.url} target="_blank" rel="noopener noreferrer">
            {i.url}
          </a>
        ) : (
          '—'
        )}
      </td>
      <td data-label="Connected">{when(i.connectedAt)}</td>
      <td data-label="Last seen">{when(i.lastSeenAt)}</td>
      {replicated && (
        <td data-label="Replica" title={i.replica?.id}>
          {i.replica ? `${i.replica.address}${i.replica.alive ? '' : ' (gone)'}` : '—'}
        </td>
      )}
      <td data-label="Open" class="actions">
        <Link href={href('logs', { app: i.app, instance: i.id })}>logs</Link>
        {i.state === 'connected' && i.execEnabled !== false && <Link href={href('terminal', { app: i.app, instance: i.id })}>terminal</Link>}
      </td>
    </tr>
  );
}
