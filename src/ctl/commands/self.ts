// Where this package's programs are, from the running bundle (dist/ctl.cjs), so `dev` needs no
// global install: the entrypoint beside us, and how the user should type the ctl.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';

/** Overrides the entrypoint `dev` runs (e.g. the single binary, dist/waypoint-entrypoint). */
export const ENTRYPOINT_ENV = 'WAYPOINT_CTL_ENTRYPOINT';

function packageRoot(): string {
  return path.resolve(__dirname, '..');
}

export function entrypointPath(): string {
  return process.env[ENTRYPOINT_ENV] || path.join(packageRoot(), 'bin', 'waypoint-entrypoint');
}

/** `waypoint-ctl` when that name on PATH is us, else the launcher's path (relative when short). */
export function ctlInvocation(): string {
  const launcher = path.join(packageRoot(), 'bin', 'waypoint-ctl');
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir || '.', 'waypoint-ctl');
    if (existsSync(candidate) && sameFile(candidate, launcher)) return 'waypoint-ctl';
  }
  const relative = path.relative(process.cwd(), launcher);
  return relative.startsWith('..') ? launcher : relative.includes(path.sep) ? relative : `./${relative}`;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}
