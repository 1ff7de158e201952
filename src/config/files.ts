// Config files (name_is_path) on disk: written atomically, so the app never reads half a file:
// a temp file in the same directory (same filesystem, so the rename is atomic), mode 0644
// whatever our umask, then renamed over the target. Parent directories are created.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

export const FILE_MODE = 0o644;

export function writeFileAtomic(file: string, content: string | Buffer): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', FILE_MODE);
  let open = true;
  try {
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off);
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    chmodSync(temp, FILE_MODE); // the umask may have narrowed the mode given to open
    renameSync(temp, file);
  } catch (err) {
    if (open) closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
}

/**
 * Where config files may go. Unset: anywhere, as in Waypoint (the name is a path). Set, from
 * WAYPOINT_CEB_FILE_ROOT or implied by WAYPOINT_CEB_DISABLE_EXEC (the app's working directory):
 * inside that directory only, relative names resolved against it, and no symbolic link on the
 * way may lead out of it.
 */
export interface FileRoot {
  dir: string;
  /** Set by WAYPOINT_CEB_FILE_ROOT (else implied by exec being disabled). */
  explicit: boolean;
}

/** The confinement our settings ask for (undefined: unconfined). */
export function fileRootFor(settings: { fileRoot?: string; disableExec: boolean }, cwd: string): FileRoot | undefined {
  if (settings.fileRoot !== undefined) return { dir: path.resolve(cwd, settings.fileRoot), explicit: true };
  // The operator asked for no remote code: a file written anywhere (a script the app runs, a
  // shell profile) would be just that.
  if (settings.disableExec) return { dir: cwd, explicit: false };
  return undefined;
}

const inside = (dir: string, target: string) => {
  const rel = path.relative(dir, target);
  return rel !== '' && !rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel);
};

/** The real path of the deepest part of `target`'s directory that exists. */
function existingRealDir(target: string): string {
  let dir = path.dirname(target);
  for (;;) {
    try {
      return realpathSync(dir);
    } catch (err) {
      const parent = path.dirname(dir);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) throw err;
      dir = parent;
    }
  }
}

export interface FileWrites {
  written: string[];
  failed: Array<{ path: string; error: string }>;
  /** Outside the file root: not written, never tried again for the same config. */
  refused: Array<{ path: string; reason: string }>;
}

/** Writes config files whose content changed since we last wrote them. */
export class ConfigFiles {
  private readonly written = new Map<string, string>();

  constructor(
    private readonly cwd: string,
    private readonly root?: FileRoot,
  ) {}

  /**
   * Writes what changed; returns the paths written, the failures (path, one-line reason), and
   * what the file root refused. A file that failed is tried again with the next config.
   */
  write(files: ReadonlyArray<{ path: string; content: string }>): FileWrites {
    const result: FileWrites = { written: [], failed: [], refused: [] };
    for (const f of files) {
      const target = path.resolve(this.root?.dir ?? this.cwd, f.path);
      if (this.written.get(target) === f.content) continue;
      try {
        const reason = this.refusal(target);
        if (reason) {
          result.refused.push({ path: f.path, reason });
          continue;
        }
        writeFileAtomic(target, f.content);
        this.written.set(target, f.content);
        result.written.push(target);
      } catch (err) {
        result.failed.push({ path: target, error: (err as Error).message });
      }
    }
    return result;
  }

  /** Why the file root keeps `target` out, if it does. */
  private refusal(target: string): string | undefined {
    const root = this.root;
    if (!root) return undefined;
    const where = root.explicit
      ? `outside WAYPOINT_CEB_FILE_ROOT (${root.dir})`
      : `outside the app's working directory (${root.dir}), and exec is disabled: set WAYPOINT_CEB_FILE_ROOT to allow a directory`;
    if (!inside(root.dir, target)) return where;
    mkdirSync(root.dir, { recursive: true });
    const realRoot = realpathSync(root.dir);
    const realDir = existingRealDir(target);
    if (realDir !== realRoot && !inside(realRoot, realDir)) return `${where}, through a symbolic link`;
    return undefined;
  }
}
