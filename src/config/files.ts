// Config files (name_is_path) on disk: written atomically, so the app never reads half a file:
// a temp file in the same directory (same filesystem, so the rename is atomic), mode 0644
// whatever our umask, then renamed over the target. Parent directories are created.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
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

/** Writes config files whose content changed since we last wrote them. */
export class ConfigFiles {
  private readonly written = new Map<string, string>();

  constructor(private readonly cwd: string) {}

  /**
   * Writes what changed; returns the paths written and the failures (path, one-line reason).
   * A file that failed is tried again with the next config.
   */
  write(files: ReadonlyArray<{ path: string; content: string }>): { written: string[]; failed: Array<{ path: string; error: string }> } {
    const written: string[] = [];
    const failed: Array<{ path: string; error: string }> = [];
    for (const f of files) {
      const target = path.resolve(this.cwd, f.path);
      if (this.written.get(target) === f.content) continue;
      try {
        writeFileAtomic(target, f.content);
        this.written.set(target, f.content);
        written.push(target);
      } catch (err) {
        failed.push({ path: target, error: (err as Error).message });
      }
    }
    return { written, failed };
  }
}
