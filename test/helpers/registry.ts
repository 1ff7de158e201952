// A real registry for tests: Debian's docker-registry (distribution 2.8) on a free port of
// 127.0.0.1, plain HTTP, its storage in a temp dir; optionally with htpasswd Basic auth (bcrypt
// lines from apache2-utils' htpasswd). Call stopRegistries() in afterEach/afterAll: it stops
// them and removes their directories. skopeoPush puts an image into one (by default the rig's
// cached base image), registryGet reads its API.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { baseImageArchive, requireTools } from './containers.js';
import { cleanEnv, type Exit, run, type Running, start, waitFor, withDeadline } from './run.js';
import { freePort } from './server.js';

export interface TestRegistry {
  /** 127.0.0.1:<port>: the host part of an image reference. */
  addr: string;
  /** Its log (stderr), for failure messages. */
  log(): string;
}

const running = new Map<TestRegistry, { proc: Running; dir: string }>();

/** GET /v2/ of the registry: its status, or 0 when nothing answers yet. */
function probe(addr: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(`http://${addr}/v2/`, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

/** Starts a registry; with `users` (name → password) it answers 401 to anyone else. */
export async function startRegistry(opts: { users?: Record<string, string> } = {}): Promise<TestRegistry> {
  const { 'docker-registry': bin } = requireTools(['docker-registry', ...(opts.users ? ['htpasswd'] : [])]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-registry-'));
  const addr = `127.0.0.1:${await freePort()}`;
  const config = [
    'version: 0.1',
    'log: { level: warn, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${JSON.stringify(path.join(dir, 'data'))} }, delete: { enabled: true } }`,
    `http: { addr: ${JSON.stringify(addr)}, secret: ${JSON.stringify(path.basename(dir))} }`,
  ];
  if (opts.users) {
    const lines = Object.entries(opts.users).map(([user, password]) => execFileSync('htpasswd', ['-nbB', user, password], { encoding: 'utf8' }).trim());
    writeFileSync(path.join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    config.push(`auth: { htpasswd: { realm: wp-test, path: ${JSON.stringify(path.join(dir, 'htpasswd'))} } }`);
  }
  writeFileSync(path.join(dir, 'config.yml'), `${config.join('\n')}\n`);
  const proc = start(['serve', path.join(dir, 'config.yml')], { bin, env: cleanEnv() });
  const registry: TestRegistry = { addr, log: () => proc.stderr().toString() };
  running.set(registry, { proc, dir });
  const expected = opts.users ? 401 : 200;
  await waitFor(async () => (await probe(addr)) === expected || proc.proc.exitCode !== null, {
    what: () => `the registry on ${addr} to answer ${expected}; its log: ${proc.stderr().toString().slice(-500)}`,
  });
  if (proc.proc.exitCode !== null) throw new Error(`docker-registry exited (${proc.proc.exitCode}): ${proc.stderr().toString().trim().slice(-500)}`);
  return registry;
}

/** For afterEach/afterAll: every registry stopped, its storage removed. */
export async function stopRegistries(): Promise<void> {
  await Promise.all(
    [...running.values()].map(async ({ proc, dir }) => {
      proc.proc.kill('SIGTERM');
      await withDeadline(proc.exited, 10_000, 'docker-registry to exit').catch(() => proc.proc.kill('SIGKILL'));
      rmSync(dir, { recursive: true, force: true });
    }),
  );
  running.clear();
}

/**
 * `skopeo copy` of `source` (skopeo's transport syntax; default: the rig's cached base image) to
 * docker://REF over plain HTTP, with `creds` (user:password) if given. Exit and output.
 */
export function skopeoPush(ref: string, opts: { source?: string; creds?: string; timeoutMs?: number } = {}): Promise<Exit & { stdout: Buffer; stderr: Buffer }> {
  const { skopeo } = requireTools(['skopeo']);
  const args = ['copy', '--insecure-policy', '--dest-tls-verify=false', ...(opts.creds ? ['--dest-creds', opts.creds] : [])];
  const source = opts.source ?? `oci-archive:${baseImageArchive()}`;
  return run([...args, source, `docker://${ref}`], { bin: skopeo, env: cleanEnv(), timeoutMs: opts.timeoutMs ?? 120_000 });
}

/** GET of a registry API path (e.g. /v2/REPO/tags/list), with Basic `auth` (user:password) if given. */
export function registryGet(addr: string, apiPath: string, auth?: string): Promise<{ status: number; body: string }> {
  const headers = auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
  return withDeadline(
    new Promise((resolve, reject) => {
      http
        .get(`http://${addr}${apiPath}`, { agent: false, headers }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    }),
    20_000,
    `GET http://${addr}${apiPath}`,
  );
}
