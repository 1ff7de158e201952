// Who we are to a registry: credentials from REGISTRY_AUTH_FILE, else podman's auth.json, else
// Docker's config.json (`auths`), and the WWW-Authenticate challenge a registry answers with
// (Basic, or Bearer with the realm that hands out tokens).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Credentials {
  username: string;
  password: string;
  /** The file they came from, for messages. */
  file: string;
}

export type Challenge = { scheme: 'basic'; realm?: string } | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

/** The files asked, in order; the first that knows the registry answers. */
export function authFiles(env: NodeJS.ProcessEnv): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const files: string[] = [];
  if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  const home = env.HOME || os.homedir();
  files.push(path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'config.json'));
  return files;
}

/** The keys a registry may be stored under (Docker Hub's is its v1 URL). */
function keysFor(registry: string): string[] {
  const keys = [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
  if (registry === 'docker.io' || registry === 'registry-1.docker.io') keys.push('https://index.docker.io/v1/', 'index.docker.io');
  return keys;
}

export function findCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  for (const file of authFiles(env)) {
    if (!existsSync(file)) continue;
    let auths: Record<string, { auth?: string; username?: string; password?: string }>;
    try {
      auths = (JSON.parse(readFileSync(file, 'utf8')) as { auths?: typeof auths }).auths ?? {};
    } catch (err) {
      throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
    }
    for (const key of keysFor(registry)) {
      const entry = auths[key];
      if (!entry) continue;
      if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password, file };
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), file };
      }
    }
  }
  return undefined;
}

/** `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'basic') return { scheme: 'basic', realm: params.realm };
  if (scheme === 'bearer' && params.realm) return { scheme: 'bearer', realm: params.realm, service: params.service, scope: params.scope };
  return undefined;
}
