// Our package version: esbuild defines __VERSION__ from package.json in the bundle; sources run
// unbundled (tests) see the development placeholder.
declare const __VERSION__: string | undefined;

export const VERSION: string = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';
