// The release addons (scripts/release/addons.mjs) for both targets: built against the official
// Node package's headers, ELF objects of the right machine whose needed symbol versions stay
// within GLIBC_2.28 and the embedded Node's own libstdc++/libgcc floor; loaded and used by that
// Node in a Debian 11 root filesystem (glibc 2.31, x64) and under qemu-aarch64 (arm64): our
// posix.node's spawn both ways (posix_spawn, and the fork way glibc 2.28 takes), and node-pty's
// JavaScript on our pty.node. The addons node-gyp builds here are the control: they must not
// load in that root filesystem, or the check there would prove nothing.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullseyeArm64Libs, bullseyeRoot, inChroot, nodePackage, type ReleaseTarget, tempDir } from '../helpers/release-env.js';
import { BINARY, ROOT } from '../helpers/run.js';

interface Entry { library: string; name: string; symbols: string[] }
interface ElfVersions {
  elfMachine(file: string): string;
  floorsFor(node: string): Record<string, string | undefined>;
  versionRequirements(file: string): { entries: Entry[]; highest: Record<string, string> };
  violations(req: { entries: Entry[] }, floors: Record<string, string | undefined>): (Entry & { floor: string })[];
  describeViolation(file: string, v: Entry & { floor: string }): string;
}
interface Addons {
  buildAddons(o: { target: ReleaseTarget; nodeDir: string; outDir: string }): { seconds: number };
}
const elf = (await import('../../scripts/release/elf-versions.mjs' as string)) as ElfVersions;
const { buildAddons } = (await import('../../scripts/release/addons.mjs' as string)) as Addons;

const TARGETS: { target: ReleaseTarget; machine: string }[] = [
  { target: 'linux-x64', machine: 'x86-64' },
  { target: 'linux-arm64', machine: 'AArch64' },
];
const CHECK = path.join(ROOT, 'test/fixtures/addon-check.cjs');
const NODE_PTY = path.dirname(createRequire(import.meta.url).resolve('node-pty/package.json'));
const isRoot = process.getuid?.() === 0;

/** What addon-check.cjs prints. */
interface Way {
  piped: Child;
  inherited: Child;
  missingFile: number | string;
  missingCwd: number | string;
}
interface Child { cwd: string; ownSession: boolean; blocked: string; ignored: string; stdin: string; exit: { code: number | null; signal: number | null } }
interface Check {
  node: string;
  arch: string;
  glibc: string;
  error?: string;
  posix?: { isatty0: boolean; spawn: Way; spawnForked: Way };
  pty?: { output: string; exitCode: number; signal: number };
}

/** A directory with addon-check.cjs, posix.node and a node-pty package around `ptyAddon`. */
function checkDir(parent: string, posixAddon: string, ptyAddon: string): string {
  const dir = path.join(parent, 'check');
  mkdirSync(path.join(dir, 'node-pty/build/Release'), { recursive: true });
  cpSync(CHECK, path.join(dir, 'addon-check.cjs'));
  cpSync(posixAddon, path.join(dir, 'posix.node'));
  cpSync(path.join(NODE_PTY, 'package.json'), path.join(dir, 'node-pty/package.json'));
  cpSync(path.join(NODE_PTY, 'lib'), path.join(dir, 'node-pty/lib'), { recursive: true });
  cpSync(ptyAddon, path.join(dir, 'node-pty/build/Release/pty.node'));
  return dir;
}

function parseCheck(r: { status: number | null; stdout: string; stderr: string; error?: Error }): Check {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.error || r.status !== 0 || !line.startsWith('{')) {
    throw new Error(`addon-check ended ${r.error?.message ?? `with exit ${r.status}`}: ${r.stdout}${r.stderr}`);
  }
  return JSON.parse(line) as Check;
}

/** The official Node package of each target (release-env's nodePackage), set in beforeAll. */
const nodeDirs = {} as Record<ReleaseTarget, string>;

function inBullseye(dir: string): Check {
  const node = nodeDirs['linux-x64'];
  return parseCheck(inChroot(bullseyeRoot(), dir, node, ['/opt/bin/node', '/mnt/addon-check.cjs', '/mnt/posix.node', '/mnt/node-pty']));
}

/**
 * The child as the app must get it, either way: in the cwd asked for, a session of its own,
 * nothing blocked or ignored, stdin the pipe given or else ours (/dev/null here).
 */
function expectChildren(way: Way): void {
  const child = { cwd: '/', ownSession: true, blocked: '0', ignored: '0', exit: { code: 0, signal: null } };
  expect(way.piped).toEqual({ ...child, stdin: 'from the pipe' });
  expect(way.inherited).toEqual({ ...child, stdin: '/dev/null' });
}

function expectWorking(check: Check, { arch, glibc }: { arch: string; glibc: string }, underQemu = false): void {
  expect(check.error).toBeUndefined();
  expect({ node: check.node, arch: check.arch, glibc: check.glibc }).toEqual({ node: 'v24.22.3', arch, glibc });
  expect(check.posix?.isatty0).toBe(false);
  expectChildren(check.posix!.spawn);
  expectChildren(check.posix!.spawnForked);
  expect([check.posix!.spawnForked.missingFile, check.posix!.spawnForked.missingCwd]).toEqual([2, 2]); // ENOENT
  // qemu-user runs glibc's clone(CLONE_VM|CLONE_VFORK) as a plain fork, so posix_spawn cannot
  // hand back the child's exec error there: the child reports it by exiting 127 instead.
  const spawnErrors = underQemu ? ['started, exit 127', 'started, exit 127'] : [2, 2];
  expect([check.posix!.spawn.missingFile, check.posix!.spawn.missingCwd]).toEqual(spawnErrors);
  expect(check.pty).toEqual({ output: expect.stringMatching(/^27 91\n\/dev\/pts\/\d+\n$/), exitCode: 7, signal: 0 });
}

describe('release addons', () => {
  let out: string;
  let cleanup: () => void;
  const built: Record<string, string> = {};

  beforeAll(async () => {
    [out, cleanup] = tempDir('waypoint-release-addons-');
    for (const { target } of TARGETS) {
      nodeDirs[target] = await nodePackage(target);
      const outDir = path.join(out, target);
      buildAddons({ target, nodeDir: nodeDirs[target], outDir });
      built[target] = outDir;
    }
  }, 300_000);

  afterAll(() => cleanup?.());

  for (const { target, machine } of TARGETS) {
    it(`${target}: both addons are ${machine} ELF objects within GLIBC_2.28 and the embedded Node's floors`, () => {
      const floors = elf.floorsFor(path.join(nodeDirs[target], 'bin/node'));
      expect(floors.GLIBC).toBe('2.28');
      for (const name of ['posix.node', 'pty.node']) {
        const file = path.join(built[target]!, name);
        expect(elf.elfMachine(file), name).toBe(machine);
        const req = elf.versionRequirements(file);
        expect(elf.violations(req, floors).map((v) => elf.describeViolation(file, v))).toEqual([]);
        expect(req.highest.GLIBC, name).toMatch(/^2\.\d/);
      }
    });
  }

  it.runIf(isRoot)('linux-x64: loaded and used by Node 24 in Debian 11 (glibc 2.31)', () => {
    const [dir, done] = tempDir('waypoint-bullseye-check-');
    try {
      const check = inBullseye(checkDir(dir, path.join(built['linux-x64']!, 'posix.node'), path.join(built['linux-x64']!, 'pty.node')));
      expectWorking(check, { arch: 'x64', glibc: '2.31' });
    } finally {
      done();
    }
  }, 120_000);

  it.runIf(isRoot)("control: node-gyp's builds on this machine do not load in Debian 11, and say why", () => {
    const [dir, done] = tempDir('waypoint-bullseye-control-');
    try {
      const ptyHere = path.join(NODE_PTY, 'build/Release/pty.node');
      const check = inBullseye(checkDir(dir, path.join(ROOT, 'native/build/Release/posix.node'), ptyHere));
      expect(check.glibc).toBe('2.31');
      expect(check.error).toMatch(/version `GLIBC_2\.(29|3\d)' not found/);
    } finally {
      done();
    }
  }, 120_000);

  // The quick local build (`npm run build:binary`, addons from node-gyp on this machine) in the
  // same root filesystem: the app still runs, and the warning names the C library, not a directory.
  it.runIf(isRoot && existsSync(BINARY))('the binary built here says, in Debian 11, which glibc its addon needs', () => {
    const [dir, done] = tempDir('waypoint-bullseye-binary-');
    try {
      cpSync(BINARY, path.join(dir, 'waypoint-entrypoint'));
      const r = inChroot(bullseyeRoot(), dir, dir, ['/usr/bin/env', '-i', 'WAYPOINT_CEB_SUBREAPER=1', '/mnt/waypoint-entrypoint', 'sh', '-c', 'exit 3']);
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/cannot load the posix addon: it needs glibc 2\.(29|3\d) or newer \(GLIBC_2\.\d+ not found\); this system has glibc 2\.31/);
      expect(r.stderr).not.toContain('WAYPOINT_CEB_NATIVE_DIR');
    } finally {
      done();
    }
  }, 120_000);

  it.runIf(isRoot)('linux-arm64: loaded and used by the arm64 Node 24 under qemu-aarch64 on Debian 11 arm64 libraries (glibc 2.31)', () => {
    const [dir, done] = tempDir('waypoint-qemu-check-');
    try {
      const check = checkDir(dir, path.join(built['linux-arm64']!, 'posix.node'), path.join(built['linux-arm64']!, 'pty.node'));
      const r = spawnSync(
        'qemu-aarch64-static',
        [path.join(nodeDirs['linux-arm64'], 'bin/node'), path.join(check, 'addon-check.cjs'), path.join(check, 'posix.node'), path.join(check, 'node-pty')],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, env: { PATH: '/usr/bin:/bin', QEMU_LD_PREFIX: bullseyeArm64Libs() } },
      );
      expectWorking(parseCheck(r), { arch: 'arm64', glibc: '2.31' }, true);
    } finally {
      done();
    }
  }, 300_000);
});
