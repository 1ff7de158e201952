// Which entrypoint binary goes into an image of which platform: the release's
// (dist/release/waypoint-entrypoint-linux-{x64,arm64}, `npm run release`) or --binary-dir's.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Platform, platformName } from './media.js';
import { ImageError } from './store.js';

/** The platforms a release binary exists for, as images name them, and the binary's target. */
const TARGETS: Record<string, string> = { 'linux/amd64': 'linux-x64', 'linux/arm64': 'linux-arm64' };

export function supportedPlatform(p: Platform): boolean {
  return `${p.os}/${p.architecture}` in TARGETS;
}

export function binaryFor(p: Platform, dir: string): string {
  const target = TARGETS[`${p.os}/${p.architecture}`];
  if (!target) throw new ImageError(`no entrypoint binary for ${platformName(p)}: there are binaries for ${Object.keys(TARGETS).join(' and ')}`);
  const file = path.join(dir, `waypoint-entrypoint-${target}`);
  if (!existsSync(file)) {
    throw new ImageError(`no entrypoint binary for ${platformName(p)}: ${file} is missing (npm run release builds it, or pass --binary-dir DIR holding waypoint-entrypoint-${target})`);
  }
  return file;
}
