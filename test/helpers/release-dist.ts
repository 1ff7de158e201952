// The release binaries `npm test` builds (`npm run release` → dist/release/, before vitest runs).
// Locally they are an extra build step, so a suite on them is skipped with a warning when they are
// missing; in CI they must be there.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';
import type { ReleaseTarget } from './release-env.js';
import { ROOT } from './run.js';

export const RELEASE_DIR = path.join(ROOT, 'dist/release');

export function releaseBinary(target: ReleaseTarget): string {
  return path.join(RELEASE_DIR, `waypoint-entrypoint-${target}`);
}

/**
 * `describe` when the binaries of `targets` are there (or in CI, where their absence fails) and
 * `enabled` (e.g. running as root), else `describe.skip`.
 */
export function releaseSuite(file: string, targets: ReleaseTarget[], enabled = true): (name: string, fn: () => void) => void {
  if (!enabled) return describe.skip;
  const missing = targets.map(releaseBinary).filter((b) => !existsSync(b));
  if (missing.length > 0 && !process.env.CI) {
    console.warn(`${file}: skipped, ${missing.map((b) => path.relative(ROOT, b)).join(', ')} missing (run \`npm run release\`)`);
    return describe.skip;
  }
  return describe;
}

/** For a beforeAll: fails with what to run when the binary is missing (CI). */
export function requireRelease(target: ReleaseTarget): string {
  const binary = releaseBinary(target);
  if (!existsSync(binary)) throw new Error(`${path.relative(ROOT, binary)} is missing: run npm run release`);
  return binary;
}
