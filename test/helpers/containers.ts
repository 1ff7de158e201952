// The container rig: podman as the container tests run it. Each test file gets a podman storage
// of its own (a temp dir: --root, --runroot, --tmpdir), so that the tests never touch the
// machine's images and containers and can run side by side; `run`, `create` and `build` get
// what the sandbox these tests run in requires (--runtime runc: crun is refused; lowered
// ulimits: podman's defaults are refused). Every container is removed after each test and every
// image the test made (cleanUp, in afterEach), the whole storage after the file (destroy).
//
// The Debian 11 base image (BASE_IMAGE) is made once, with no registry, from the debootstrap root
// filesystem of the release tests (release-env.ts) through `podman import`, and cached as an OCI
// archive in the build cache; each storage loads it from there (a few seconds, uncompressed).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bullseyeRoot, cacheDir, once } from './release-env.js';
import { cleanEnv, type Exit, run, type Running, start } from './run.js';
import { openTerminal, type Terminal, type TerminalOptions } from './terminal.js';

/** The rig's Debian 11 minbase image (CMD bash), in every storage openPodman makes. */
export const BASE_IMAGE = 'localhost/wp-test/debian:11';
/** What the sandbox lets a container have; podman's defaults (nproc 32768, nofile 1048576) are refused. */
const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
const WITH_LIMITS = new Set(['run', 'create', 'build']);

type Result = Exit & { stdout: Buffer; stderr: Buffer };

/** The absolute path of `cmd` on PATH, or undefined. */
function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** For a beforeAll: fails with one line naming what is missing and how to install it. */
export function requireTools(tools: string[]): Record<string, string> {
  const found = Object.fromEntries(tools.map((t) => [t, which(t)]));
  const missing = tools.filter((t) => !found[t]);
  if (missing.length > 0) {
    throw new Error(`the container tests need ${missing.join(', ')}: install them as root with \`bash scripts/system-deps.sh\``);
  }
  return found as Record<string, string>;
}

/** A name for a container or image, unique to this run. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** `-e NAME=VALUE` for each entry. */
export function envFlags(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v ?? ''}`]);
}

function failure(what: string, r: Result): Error {
  const out = `${r.stderr.toString()}${r.stdout.toString()}`.trim().split('\n').slice(-15).join('\n');
  return new Error(`${what} failed (${r.code ?? r.signal}): ${out}`);
}

/** Global flags for a storage in `dir`. */
function storageFlags(dir: string): string[] {
  return ['--root', path.join(dir, 'storage'), '--runroot', path.join(dir, 'run'), '--tmpdir', path.join(dir, 'tmp'), '--runtime', 'runc'];
}

/** podman's argv for `args` on the storage in `dir`: the sandbox's limits after run/create/build. */
function podmanArgv(dir: string, args: string[]): string[] {
  const [sub, ...rest] = args;
  return [...storageFlags(dir), sub, ...(WITH_LIMITS.has(sub) ? LIMITS : []), ...rest];
}

/**
 * The base image as an OCI archive in the build cache, made on first use: the root filesystem
 * (without the .debs debootstrap left in apt's cache) imported into a throwaway storage, then saved
 * uncompressed, which loads about twice as fast as gzip here.
 */
export function baseImageArchive(): string {
  return once(path.join(cacheDir(), 'wp-test-debian-11.oci.tar'), (partial) => {
    const root = bullseyeRoot();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-podman-base-'));
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const podman = (args: string[]) => ['podman', ...podmanArgv(dir, args)].map(quote).join(' ');
    const script = [
      'set -euo pipefail',
      `tar -C ${quote(root)} --exclude='./var/cache/apt/archives/*.deb' -c . | ${podman(['import', '--change', 'CMD ["bash"]', '-', BASE_IMAGE])} >/dev/null`,
      `${podman(['save', '--uncompressed', '--format', 'oci-archive', '-o', partial, BASE_IMAGE])} >/dev/null`,
      `${podman(['rmi', '--all', '--force'])} >/dev/null`,
    ].join('\n');
    try {
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 300_000 });
      if (r.error || r.status !== 0) throw new Error(`making ${BASE_IMAGE} from ${root} failed: ${r.error?.message ?? r.stderr.trim()}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

export interface Podman {
  /** The storage's directory (removed by destroy). */
  dir: string;
  /** Runs podman `args` to completion. */
  run(args: string[], opts?: { timeoutMs?: number; input?: string | Buffer }): Promise<Result>;
  /** Runs podman `args`; its stdout, or an error with what podman said. */
  must(args: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** Starts podman `args` (e.g. an attached `run`) and leaves it running; killAll() ends the client. */
  start(args: string[]): Running;
  /** podman `args` on a terminal of its own (e.g. `run -it`); closeTerminals() ends the client. */
  terminal(args: string[], opts?: TerminalOptions): Terminal;
  /** `podman build` of `context` with `file` into `tag`, the host's network, never pulling. */
  build(tag: string, context: string, opts: { file: string; from?: string; buildArgs?: Record<string, string>; timeoutMs?: number }): Promise<void>;
  /** Marks every image there now as the file's own: cleanUp keeps them. */
  keepImages(): Promise<void>;
  /** For afterEach: every container removed (running or not), every image not kept. */
  cleanUp(): Promise<void>;
  /** For afterAll: everything removed, the storage directory too. */
  destroy(): Promise<void>;
}

/** A storage of the test file's own, with BASE_IMAGE loaded and kept; call destroy in afterAll. */
export async function openPodman(): Promise<Podman> {
  const { podman: bin } = requireTools(['podman', 'runc']);
  const archive = baseImageArchive();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-podman-'));
  /** Image IDs and names (repository:tag) that cleanUp leaves. */
  const kept = new Set<string>();
  const env = cleanEnv();
  const images = async () =>
    (await p.must(['images', '--all', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}']))
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [id, name] = line.split(' ');
        return { id, name };
      });
  const p: Podman = {
    dir,
    run: (args, { timeoutMs = 60_000, input } = {}) => run(podmanArgv(dir, args), { bin, env, timeoutMs, input }),
    async must(args, opts) {
      const r = await p.run(args, opts);
      if (r.code !== 0) throw failure(`podman ${args.join(' ')}`, r);
      return r.stdout.toString();
    },
    start: (args) => start(podmanArgv(dir, args), { bin, env }),
    terminal: (args, opts) => openTerminal(bin, podmanArgv(dir, args), { ...opts, env: opts?.env ?? env }),
    async build(tag, context, { file, from, buildArgs = {}, timeoutMs = 180_000 }) {
      const args = ['build', '--layers=false', '--pull=never', '--network', 'host', '-q', '-t', tag, '-f', file];
      if (from) args.push('--from', from);
      for (const [k, v] of Object.entries(buildArgs)) args.push('--build-arg', `${k}=${v}`);
      await p.must([...args, context], { timeoutMs });
    },
    async keepImages() {
      for (const { id, name } of await images()) kept.add(id).add(name);
    },
    async cleanUp() {
      await p.must(['rm', '--all', '--force', '--time', '0']);
      const now = await images();
      // A new name of a kept image (a pull of the base from a registry) is only untagged.
      const names = now.filter(({ id, name }) => kept.has(id) && !kept.has(name) && name !== '<none>:<none>').map(({ name }) => name);
      if (names.length > 0) await p.must(['untag', ...names.map((n) => n.replace(/:<none>$/, ''))]);
      const ids = [...new Set(now.filter(({ id }) => !kept.has(id)).map(({ id }) => id))];
      if (ids.length > 0) await p.must(['rmi', '--force', ...ids]);
    },
    async destroy() {
      try {
        await p.must(['rm', '--all', '--force', '--time', '0']);
        await p.must(['rmi', '--all', '--force']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await p.must(['load', '--quiet', '--input', archive], { timeoutMs: 120_000 });
    await p.keepImages();
    const smoke = await p.run(['run', '--rm', '--network', 'none', BASE_IMAGE, 'true']);
    if (smoke.code !== 0) throw failure('podman cannot run a container here: podman run', smoke);
  } catch (err) {
    await p.destroy().catch(() => undefined);
    throw err;
  }
  return p;
}
