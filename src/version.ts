// Our package version: esbuild defines __VERSION__ from package.json in the bundle; sources run
// unbundled (tests) see the development placeholder.
declare const __VERSION__: string | undefined;

export const VERSION: string = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';

/**
 * What `waypoint-entrypoint --version` prints: ours, the Node actually running us and the
 * platform it was built for, read at run time so that it is true for any build (the release
 * binary embeds its own Node; the npm package runs on whatever node is on PATH).
 */
export function versionLine(): string {
  return `waypoint-entrypoint ${VERSION} (node ${process.version}, ${process.platform}-${process.arch})`;
}
