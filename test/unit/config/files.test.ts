// Where config files may be written (M7): anywhere by default, as Waypoint; inside
// WAYPOINT_CEB_FILE_ROOT when it is set (relative names against it, `..` and absolute paths
// outside refused, no symbolic link leading out); inside the app's working directory when exec is
// disabled and no root was set.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigFiles, fileRootFor } from '../../../src/config/files.js';

let tmp: string;
let cwd: string;
let root: string;
let outside: string;

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'wp-file-root-'));
  cwd = path.join(tmp, 'app');
  root = path.join(tmp, 'root');
  outside = path.join(tmp, 'outside');
  for (const d of [cwd, root, outside]) mkdirSync(d);
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const file = (p: string, content = 'x') => ({ path: p, content });

describe('fileRootFor', () => {
  it('M7: unconfined by default; WAYPOINT_CEB_FILE_ROOT when set; the working directory when exec is disabled', () => {
    expect(fileRootFor({ disableExec: false }, cwd)).toBeUndefined();
    expect(fileRootFor({ fileRoot: root, disableExec: false }, cwd)).toEqual({ dir: root, explicit: true });
    expect(fileRootFor({ disableExec: true }, cwd)).toEqual({ dir: cwd, explicit: false });
    // An explicit root wins, even one wider than the working directory.
    expect(fileRootFor({ fileRoot: '/', disableExec: true }, cwd)).toEqual({ dir: '/', explicit: true });
  });
});

describe('ConfigFiles with a file root', () => {
  it('M7: unconfined: `..` and absolute paths are written, as in Waypoint', () => {
    const files = new ConfigFiles(cwd);
    const result = files.write([file('../outside/rel.txt'), file(path.join(outside, 'abs.txt'))]);
    expect(result.refused).toEqual([]);
    expect(existsSync(path.join(outside, 'rel.txt'))).toBe(true);
    expect(existsSync(path.join(outside, 'abs.txt'))).toBe(true);
  });

  it('M7: relative names resolve against the root; absolute ones inside it are written', () => {
    const files = new ConfigFiles(cwd, { dir: root, explicit: true });
    const result = files.write([file('conf/a.json', 'a'), file(path.join(root, 'b.txt'), 'b'), file('sub/../c.txt', 'c')]);
    expect(result.refused).toEqual([]);
    expect(result.written).toEqual([path.join(root, 'conf/a.json'), path.join(root, 'b.txt'), path.join(root, 'c.txt')]);
    expect(readFileSync(path.join(root, 'conf/a.json'), 'utf8')).toBe('a');
    expect(existsSync(path.join(cwd, 'conf'))).toBe(false);
  });

  it('M7: `..` out of the root and absolute paths outside it are refused, the others still written', () => {
    const files = new ConfigFiles(cwd, { dir: root, explicit: true });
    const result = files.write([file('../outside/up.txt'), file('a/../../outside/up2.txt'), file(path.join(outside, 'abs.txt')), file('ok.txt'), file('.')]);
    expect(result.refused.map((r) => r.path)).toEqual(['../outside/up.txt', 'a/../../outside/up2.txt', path.join(outside, 'abs.txt'), '.']);
    expect(result.refused[0].reason).toBe(`outside WAYPOINT_CEB_FILE_ROOT (${root})`);
    expect(result.written).toEqual([path.join(root, 'ok.txt')]);
    expect(existsSync(path.join(outside, 'up.txt'))).toBe(false);
    expect(existsSync(path.join(outside, 'up2.txt'))).toBe(false);
    expect(existsSync(path.join(outside, 'abs.txt'))).toBe(false);
  });

  it('M7: a symbolic link inside the root that leads out is refused; one that stays inside is followed', () => {
    symlinkSync(outside, path.join(root, 'escape'));
    mkdirSync(path.join(root, 'real'));
    symlinkSync(path.join(root, 'real'), path.join(root, 'alias'));
    const files = new ConfigFiles(cwd, { dir: root, explicit: true });
    const result = files.write([file('escape/evil.txt'), file('escape/deeper/evil.txt'), file('alias/fine.txt')]);
    expect(result.refused.map((r) => r.path)).toEqual(['escape/evil.txt', 'escape/deeper/evil.txt']);
    expect(result.refused[0].reason).toBe(`outside WAYPOINT_CEB_FILE_ROOT (${root}), through a symbolic link`);
    expect(existsSync(path.join(outside, 'evil.txt'))).toBe(false);
    expect(existsSync(path.join(outside, 'deeper'))).toBe(false);
    expect(readFileSync(path.join(root, 'real/fine.txt'), 'utf8')).toBe('x');
  });

  it('M7: a root reached through a symbolic link itself is fine; a missing root is created', () => {
    symlinkSync(root, path.join(tmp, 'root-link'));
    const linked = new ConfigFiles(cwd, { dir: path.join(tmp, 'root-link'), explicit: true });
    expect(linked.write([file('a.txt')]).written).toEqual([path.join(tmp, 'root-link/a.txt')]);
    const fresh = new ConfigFiles(cwd, { dir: path.join(tmp, 'new/root'), explicit: true });
    expect(fresh.write([file('b.txt')]).written).toEqual([path.join(tmp, 'new/root/b.txt')]);
  });

  it('M7: exec disabled without a root: the working directory is the root, and the warning says how to widen it', () => {
    const files = new ConfigFiles(cwd, fileRootFor({ disableExec: true }, cwd));
    const result = files.write([file('inside.txt'), file(path.join(outside, 'payload.js'))]);
    expect(result.written).toEqual([path.join(cwd, 'inside.txt')]);
    expect(result.refused).toEqual([
      {
        path: path.join(outside, 'payload.js'),
        reason: `outside the app's working directory (${cwd}), and exec is disabled: set WAYPOINT_CEB_FILE_ROOT to allow a directory`,
      },
    ]);
  });
});
