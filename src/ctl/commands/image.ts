// `waypoint-ctl image inject SOURCE TARGET`: the entrypoint added to an existing image, with no
// container daemon (src/image/). Sources and targets in skopeo's syntax.
import path from 'node:path';
import type { Command } from 'commander';
import { injectImage } from '../../image/inject.js';
import { InjectError } from '../../image/inject-config.js';
import { openSource, openTarget } from '../../image/open.js';
import { describeLocation, parseLocation, ReferenceError } from '../../image/reference.js';
import { ImageError } from '../../image/store.js';
import { CtlError, UsageError } from '../errors.js';

declare const __VERSION__: string;
declare const __dirname: string; // the bundle is CommonJS: dist/ctl.cjs, beside dist/release/

const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;

const MiB = 1024 * 1024;
let progressShown = false;

/** On a terminal: the blob being pushed and how much of it, rewritten in place. */
function showProgress(digest: string, sent: number, total: number): void {
  process.stderr.write(`\r\x1b[2Kpushing ${digest.slice(0, 19)}…: ${(sent / MiB).toFixed(1)} of ${(total / MiB).toFixed(1)} MiB`);
  progressShown = true;
}

/** The progress line, wiped before a line of its own is written. */
function clearLine(): string {
  if (!progressShown) return '';
  progressShown = false;
  return '\r\x1b[2K';
}

export function imageCommand(program: Command): void {
  const image = program.command('image').description('work on container images');
  image
    .command('inject')
    .description('add the entrypoint to an existing image: a layer holding /waypoint-entrypoint, put in front of its Entrypoint, for each platform')
    .argument('<source>', 'docker://HOST[:PORT]/REPO[:TAG] (or without docker://), oci:DIR[:TAG], docker-archive:FILE')
    .argument('<target>', 'where the new image goes, in the same forms (docker-archive:FILE[:NAME:TAG])')
    .option('--platform <list>', 'only these platforms of a multi-platform image, e.g. linux/amd64,linux/arm64 (the others are left out)')
    .option('--insecure', 'plain HTTP to the registries (no TLS)')
    .option('--binary-dir <dir>', 'where waypoint-entrypoint-linux-x64 and -linux-arm64 are (default: the release beside waypoint-ctl)')
    .action(async (sourceText: string, targetText: string, opts: { platform?: string; insecure?: boolean; binaryDir?: string }) => {
      const platforms = opts.platform?.split(',').map((p) => p.trim());
      const badPlatform = platforms?.find((p) => !PLATFORM.test(p));
      if (badPlatform !== undefined) throw new UsageError(`--platform: ${JSON.stringify(badPlatform)} is not os/arch[/variant], e.g. linux/arm64`);
      let source, target;
      try {
        source = parseLocation(sourceText);
        target = parseLocation(targetText);
      } catch (err) {
        if (err instanceof ReferenceError) throw new UsageError(err.message);
        throw err;
      }
      const open = { insecure: opts.insecure === true, progress: process.stderr.isTTY ? showProgress : undefined };
      const binaryDir = path.resolve(opts.binaryDir ?? path.join(__dirname, 'release'));
      const started = Date.now();
      try {
        const result = await injectImage({
          source: openSource(source, open),
          target: openTarget(target, open),
          binaryDir,
          platforms,
          createdBy: `waypoint-ctl image inject (waypoint-entrypoint ${__VERSION__})`,
          log: (line) => process.stderr.write(`${clearLine()}${line}\n`),
        });
        const injected = result.platforms.filter((p) => p.outcome === 'injected').length;
        process.stderr.write(
          `${clearLine()}${describeLocation(target)}: ${injected} of ${result.platforms.length} platform(s) injected in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
        process.stdout.write(`${result.digest}\n`);
      } catch (err) {
        if (err instanceof ImageError || err instanceof InjectError) throw new CtlError(err.message);
        throw err;
      }
    });
}
