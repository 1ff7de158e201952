// URLs: the public addresses of the apps and their instances, as links.
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
          <table>
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">Instance</th>
                <th scope="col">URL</th>
              </tr>
            </thead>
            <tbody>
              {urls.map((u) => (
                <tr key={u.url}>
                  <td>{u.app}</td>
                  <td>{u.instanceId ? <Id id={u.instanceId} /> : 'the app (any instance)'}</td>
                  <td>
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
