// What `npm run release` wrote (dist/release/, built by `npm test`): both targets' binaries,
// stripped, listed in a SHA256SUMS that `sha256sum -c` accepts; and the symbol-version check of
// every ELF object they ship (each binary and the two addons inside it, found as SEA assets):
// nothing above GLIBC_2.28, nor above the embedded Node's own GLIBCXX/CXXABI/GCC floors.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nodePackage, type ReleaseTarget, tempDir } from '../helpers/release-env.js';
import { RELEASE_DIR, releaseSuite, requireRelease } from '../helpers/release-dist.js';
import { BINARY } from '../helpers/run.js';

interface Entry { library: string; name: string; symbols: string[] }
const elf = (await import('../../scripts/release/elf-versions.mjs' as string)) as {
  elfMachine(file: string): string;
  floorsFor(node: string): Record<string, string | undefined>;
  versionRequirements(file: string): { entries: Entry[]; highest: Record<string, string> };
  violations(req: { entries: Entry[] }, floors: Record<string, string | undefined>): (Entry & { floor: string })[];
  describeViolation(file: string, v: Entry & { floor: string }): string;
  shippedObjects(binary: string, dir: string): { name: string; file: string }[];
};

const TARGETS: { target: ReleaseTarget; machine: string }[] = [
  { target: 'linux-x64', machine: 'x86-64' },
  { target: 'linux-arm64', machine: 'AArch64' },
];

/** Each shipped object's violations of the official Node's floors, one line each (none expected). */
function violationsOf(binary: string, node: string, dir: string): { objects: string[]; machines: string[]; lines: string[] } {
  const floors = elf.floorsFor(node);
  const objects = elf.shippedObjects(binary, dir);
  const lines = objects.flatMap(({ name, file }) => elf.violations(elf.versionRequirements(file), floors).map((v) => elf.describeViolation(name, v)));
  return { objects: objects.map((o) => o.name), machines: objects.map((o) => elf.elfMachine(o.file)), lines };
}

releaseSuite('release-dist.test.ts', ['linux-x64', 'linux-arm64'])('npm run release: dist/release', () => {
  let dir: string;
  let cleanup: () => void;
  const nodes = {} as Record<ReleaseTarget, string>;

  beforeAll(async () => {
    for (const { target } of TARGETS) {
      requireRelease(target);
      nodes[target] = path.join(await nodePackage(target), 'bin/node');
    }
    [dir, cleanup] = tempDir('waypoint-release-elf-');
  }, 300_000);

  afterAll(() => cleanup?.());

  it('holds both binaries and a SHA256SUMS of both that sha256sum -c accepts', () => {
    expect(readdirSync(RELEASE_DIR).sort()).toEqual(['SHA256SUMS', 'waypoint-entrypoint-linux-arm64', 'waypoint-entrypoint-linux-x64']);
    const check = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: RELEASE_DIR, encoding: 'utf8' });
    expect(check.stdout).toBe('waypoint-entrypoint-linux-x64: OK\nwaypoint-entrypoint-linux-arm64: OK\n');
    expect(check.status).toBe(0);
  });

  for (const { target, machine } of TARGETS) {
    it(`${target}: stripped (no symbol table, no debug info)`, () => {
      const r = spawnSync('readelf', ['-S', '-W', requireRelease(target)], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('.text');
      expect(r.stdout).not.toMatch(/\.symtab|\.debug_info/);
    });

    it(`${target}: the binary and both addons inside it are ${machine} and need nothing above GLIBC_2.28 or the official Node's floors`, () => {
      const binary = requireRelease(target);
      const found = violationsOf(binary, nodes[target], dir);
      const name = path.basename(binary);
      // The blob's assets come in Node's (hashed) order, which the set of assets decides.
      expect([...found.objects].sort()).toEqual([name, `${name}!posix.node`, `${name}!pty.node`]);
      expect(found.machines).toEqual([machine, machine, machine]);
      expect(found.lines).toEqual([]);
    });
  }

  // The same check must fail where it should: the quick local build embeds this machine's
  // node-gyp addons (glibc 2.34), and the check names their symbols.
  it.runIf(existsSync(BINARY))('control: the addons inside the local build (npm run build:binary) are reported, with their symbols', () => {
    const found = violationsOf(BINARY, nodes['linux-x64'], dir);
    expect(found.lines).toContainEqual(expect.stringMatching(/^waypoint-entrypoint!pty\.node needs GLIBC_2\.3\d from libc\.so\.6 \(.*openpty.*\), above the floor GLIBC_2\.28$/));
    expect(found.lines).toContainEqual(expect.stringMatching(/^waypoint-entrypoint!posix\.node needs GLIBC_2\.3\d from libc\.so\.6 \(.+\), above the floor GLIBC_2\.28$/));
  });
});
