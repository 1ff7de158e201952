// Config: the variables of a scope (global, or an app with the globals it inherits), set and
// unset as static, internal (masked) or file, and what each instance runs with: restart
// pending or restarted at, live from the instances stream.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson, sendJson } from '../api.js';
import { useLiveInstances } from '../live.js';
import { href } from '../route.js';
import type { ConfigScope, ConfigVar, VarKind } from '../types.js';
import { Choice, ErrorLine, Id, message, navigate, useApps, when } from '../ui.js';

export function ConfigPage({ query, onSignedOut }: { query: URLSearchParams; onSignedOut: () => void }): JSX.Element {
  const app = query.get('app') ?? '';
  const { apps, refresh: refreshApps } = useApps();
  const [scope, setScope] = useState<ConfigScope | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const { instances } = useLiveInstances(onSignedOut);

  const load = () =>
    getJson<ConfigScope>(`/api/v1/config${app ? `?app=${encodeURIComponent(app)}` : ''}`).then(setScope, (e: unknown) => setError(message(e)));
  useEffect(() => {
    setScope(null);
    setError(null);
    setDone(null);
    void load();
  }, [app]);

  const unset = async (name: string) => {
    setError(null);
    setDone(null);
    try {
      const r = await sendJson<{ changed: number }>('DELETE', `/api/v1/config?app=${encodeURIComponent(app)}&name=${encodeURIComponent(name)}`);
      setDone(`Unset ${name} (${r.changed} changed).`);
      await load();
    } catch (e) {
      setError(message(e));
    }
  };

  const runsWith = [...instances.values()].filter((i) => i.state !== 'gone' && (!app || i.app === app));
  return (
    <section>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <Choice id="config-scope" onFocus={refreshApps} label="Scope" value={app} empty="Global (every app)" options={apps.map((a) => ({ value: a.name }))} onChange={(a) => navigate(href('config', { app: a }), true)} />
      </form>
      {scope?.fileChangeSignal && (
        <p>
          File changes signal the app with <code>{scope.fileChangeSignal}</code> instead of a restart.
        </p>
      )}
      <ErrorLine error={error} />
      {done && (
        <p class="ok" role="status">
          {done}
        </p>
      )}
      <VarsTable scope={scope} app={app} onUnset={unset} />
      <SetForm
        app={app}
        onSet={async (v) => {
          setError(null);
          setDone(null);
          try {
            const r = await sendJson<{ changed: number }>('PUT', '/api/v1/config', { app, vars: [v] });
            setDone(`Set ${v.name} (${r.changed} changed).`);
            await load();
            return true;
          } catch (e) {
            setError(message(e));
            return false;
          }
        }}
      />
      <h2>What the instances run with</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">App</th>
              <th scope="col">Instance</th>
              <th scope="col">State</th>
              <th scope="col">Restart pending</th>
              <th scope="col">Restarted at</th>
              <th scope="col">Reported</th>
            </tr>
          </thead>
          <tbody>
            {runsWith.map((i) => (
              <tr key={i.id} data-instance={i.id} data-restarted-at={i.config?.restartedAt ?? ''}>
                <td>{i.app}</td>
                <td>
                  <Id id={i.id} />
                </td>
                <td>{i.state}</td>
                <td>{i.config?.restartPending === null || !i.config ? '—' : i.config.restartPending ? 'yes' : 'no'}</td>
                <td>{when(i.config?.restartedAt)}</td>
                <td class={i.status && i.status !== 'RUNNING' ? 'error' : ''}>
                  {i.status ?? '—'}
                  {i.statusMessage && `: ${i.statusMessage}`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function VarsTable({ scope, app, onUnset }: { scope: ConfigScope | null; app: string; onUnset: (name: string) => void }): JSX.Element {
  if (!scope) return <p aria-busy="true">Loading…</p>;
  if (scope.vars.length === 0) return <p class="empty">No variables in this scope.</p>;
  return (
    <div class="table-wrap">
      <table class="vars">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Kind</th>
            <th scope="col">Value</th>
            <th scope="col">From</th>
            <th scope="col">Updated</th>
            <th scope="col">Unset</th>
          </tr>
        </thead>
        <tbody>
          {scope.vars.map((v) => (
            <VarRow key={`${v.scope}/${v.name}`} v={v} own={v.scope === app} onUnset={onUnset} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function VarRow({ v, own, onUnset }: { v: ConfigVar; own: boolean; onUnset: (name: string) => void }): JSX.Element {
  return (
    <tr data-var={v.name} class={v.overridden ? 'overridden' : ''}>
      <td>
        <code>{v.name}</code>
      </td>
      <td>{v.kind}</td>
      <td class="value">
        {v.dynamic ? (
          <code>{`dynamic: ${v.dynamic.from} ${Object.entries(v.dynamic.config).map(([k, x]) => `${k}=${x}`).join(' ')}`}</code>
        ) : v.value === null ? (
          <span class="masked">hidden (internal)</span>
        ) : v.kind === 'file' ? (
          <pre>{v.value}</pre>
        ) : (
          <code>{v.value}</code>
        )}
      </td>
      <td>
        {v.scope === '' ? 'global' : v.scope}
        {v.overridden && ' (overridden)'}
      </td>
      <td>{when(v.updatedAt)}</td>
      <td>
        {own && (
          <button type="button" class="small" onClick={() => onUnset(v.name)} aria-label={`Unset ${v.name}`}>
            Unset
          </button>
        )}
      </td>
    </tr>
  );
}

function SetForm({ app, onSet }: { app: string; onSet: (v: { name: string; value: string; kind: VarKind }) => Promise<boolean> }): JSX.Element {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [kind, setKind] = useState<VarKind>('static');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    if (await onSet({ name: name.trim(), value, kind })) {
      setName('');
      setValue('');
    }
    setBusy(false);
  };
  return (
    <form class="card set-var" onSubmit={submit}>
      <h2>Set a variable {app ? `of ${app}` : 'for every app'}</h2>
      <div class="filters">
        <label for="var-name">
          <span>{kind === 'file' ? 'Path' : 'Name'}</span>
          <input id="var-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required spellcheck={false} autocomplete="off" />
        </label>
        <label for="var-kind">
          <span>Kind</span>
          <select id="var-kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as VarKind)}>
            <option value="static">static</option>
            <option value="internal">internal (masked)</option>
            <option value="file">file</option>
          </select>
        </label>
        <label for="var-value" class="grow">
          <span>{kind === 'file' ? 'Content' : 'Value'}</span>
          {kind === 'file' ? (
            <textarea id="var-value" rows={3} value={value} onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
          ) : kind === 'internal' ? (
            <input id="var-value" type="password" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} autocomplete="off" />
          ) : (
            <input id="var-value" type="text" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} autocomplete="off" />
          )}
        </label>
        <button type="submit" disabled={busy}>
          Set
        </button>
      </div>
    </form>
  );
}
