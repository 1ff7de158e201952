// Calls to the server's /api/v1/. The session is the HttpOnly cookie the browser keeps; this
// module keeps only the session's CSRF token, in memory, and sends it with every write. The
// operator token passes through signIn once and is kept nowhere.
import type { Session } from './types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';
let onSignedOut: () => void = () => {};

/** What to do when the server no longer knows the session (expired, signed out elsewhere). */
export function whenSignedOut(f: () => void): void {
  onSignedOut = f;
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === 'string' && body.error) message = body.error;
  } catch {
    /* not JSON: the status says it */
  }
  return new ApiError(res.status, message);
}

export async function request(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'the server cannot be reached: check that it runs, then try again');
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !path.startsWith('/api/v1/session')) {
      csrf = '';
      onSignedOut();
    }
    throw err;
  }
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await request('GET', path)).json()) as T;
}

export async function sendJson<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const res = await request(method, path, body);
  return (res.status === 204 ? {} : await res.json()) as T;
}

/** The live session, or null (401): decides between the sign-in page and the app. */
export async function currentSession(): Promise<Session | null> {
  try {
    const s = await getJson<Session>('/api/v1/session');
    csrf = s.csrf;
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function signIn(token: string): Promise<Session> {
  const s = await sendJson<Session>('POST', '/api/v1/session', { token });
  csrf = s.csrf;
  return s;
}

export async function signOut(): Promise<void> {
  try {
    await sendJson('DELETE', '/api/v1/session');
  } finally {
    csrf = '';
  }
}
