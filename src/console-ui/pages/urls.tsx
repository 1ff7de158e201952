// URLs: the public addresses of the apps and their deployments (as `waypoint-ctl url list`),
// with how many instances serve each, as links.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson } from '../api.js';
import type { UrlEntry } from '../types.js';
import { ErrorLine, Id, message } from '../ui.js';

export function UrlsPage(): JSX.Element {
  const [urls, setUrls] = useState<UrlEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    getJson<{ urls: UrlEntry[] }>('/api/v1/urls').then(
      (r) => (setUrls(r.urls), setError(null)),
      (e: unknown) => setError(message(e)),
    );
  useEffect(() => void load(), []);
  return (
    <section>
      <div class="toolbar">
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <ErrorLine error={error} />
      {urls && urls.length === 0 && <p class="empty">No URLs: the server gives apps URLs when it runs with --url-domain.</p>}
      {urls && urls.length > 0 && (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">For</th>
                <th scope="col">Serving</th>
                <th scope="col">URL</th>
              </tr>
            </thead>
            <tbody>
              {urls.map((u) => (
                <tr key={u.url}>
                  <td data-label="App">{u.app}</td>
                  <td data-label="For">
                    {u.instanceId ? (
                      <>
                        instance <Id id={u.instanceId} />
                      </>
                    ) : u.deploymentId ? (
                      <>
                        deployment <Id id={u.deploymentId} />
                      </>
                    ) : (
                      'the app (its newest live deployment)'
                    )}
                  </td>
                  <td data-label="Serving" class="num">
                    {u.instances === undefined ? '—' : `${u.instances} instance${u.instances === 1 ? '' : 's'}`}
                  </td>
                  <td data-label="URL" class="url">
                    <a href={u.url} target="_blank" rel="noopener noreferrer">
                      {u.url}
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
