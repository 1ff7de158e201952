// The source types this entrypoint knows, each a module loaded only when a config names it.
// `null` is tiny and part of the dynamic chunk; every other source is a chunk of its own
// (dist/source-<type>.cjs, a SEA asset of the binary: scripts/chunks.mjs), because one may pull
// in much (aws-ssm its AWS library) that an app using another never needs. A module that cannot
// be loaded (a build without it, a broken chunk) is a failure of every variable of that type,
// reported like any other: the app runs on.
import type { SourceFactory } from './source.js';
import { create as createNull } from './sources/null.js';

/** What a source module exports. */
interface SourceModule {
  create: SourceFactory;
}

// The specifiers are cast to string: the registry is typed by the SourceModule interface, not by
// each module, so that it compiles, and a missing module fails at run time as the variable's
// failure instead of breaking the build. scripts/build.mjs turns each import into its chunk.
const LOADERS: Readonly<Record<string, () => Promise<SourceModule>>> = {
  null: async () => ({ create: createNull }),
  vault: () => import('./sources/vault.js' as string) as Promise<SourceModule>,
  kubernetes: () => import('./sources/kubernetes.js' as string) as Promise<SourceModule>,
  consul: () => import('./sources/consul.js' as string) as Promise<SourceModule>,
  'aws-ssm': () => import('./sources/aws-ssm.js' as string) as Promise<SourceModule>,
};

export const SOURCE_TYPES: readonly string[] = Object.keys(LOADERS);

export class SourceLoadError extends Error {}

const loaded = new Map<string, Promise<SourceFactory>>();

/** The factory of a source type, its module loaded once. Rejects with a SourceLoadError. */
export function loadSource(type: string): Promise<SourceFactory> {
  let factory = loaded.get(type);
  if (!factory) {
    factory = loadOnce(type);
    loaded.set(type, factory);
  }
  return factory;
}

async function loadOnce(type: string): Promise<SourceFactory> {
  if (!Object.hasOwn(LOADERS, type)) {
    throw new SourceLoadError(`unknown config source type ${JSON.stringify(type)}: this entrypoint reads ${SOURCE_TYPES.join(', ')}`);
  }
  let module: SourceModule;
  try {
    module = await LOADERS[type]();
  } catch (err) {
    if (isMissing(err)) throw new SourceLoadError(`the ${type} source is not part of this build of the entrypoint`);
    throw new SourceLoadError(`the ${type} source could not be loaded: ${firstLine(err)}`);
  }
  if (typeof module?.create !== 'function') throw new SourceLoadError(`the ${type} source module has no create function`);
  return module.create;
}

/** No such chunk: not built (bundle), not an asset (single binary), no such file (sources). */
function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND' || /No matching asset|Cannot find asset|Cannot find module/.test(String((err as Error)?.message));
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
