// A location (reference.ts) opened as a source or a target (store.ts).
import { DockerArchiveSource, DockerArchiveTarget } from './docker-archive.js';
import { OciLayoutSource, OciLayoutTarget } from './oci-layout.js';
import type { ImageLocation } from './reference.js';
import { RegistryRepository, type UploadProgress } from './registry/store.js';
import type { ImageSource, ImageTarget } from './store.js';

export interface OpenOptions {
  insecure: boolean;
  env?: NodeJS.ProcessEnv;
  /** A registry target tells each chunk it uploads. */
  progress?: UploadProgress;
}

export function openSource(loc: ImageLocation, options: OpenOptions): ImageSource {
  switch (loc.transport) {
    case 'registry':
      return new RegistryRepository(loc.registry, loc.repository, loc.digest ?? loc.tag ?? 'latest', options);
    case 'oci':
      return new OciLayoutSource(loc.dir, loc.tag);
    case 'docker-archive':
      return new DockerArchiveSource(loc.file);
  }
}

export function openTarget(loc: ImageLocation, options: OpenOptions): ImageTarget {
  switch (loc.transport) {
    case 'registry':
      return new RegistryRepository(loc.registry, loc.repository, loc.tag ?? loc.digest ?? 'latest', options);
    case 'oci':
      return new OciLayoutTarget(loc.dir, loc.tag);
    case 'docker-archive':
      return new DockerArchiveTarget(loc.file, loc.name);
  }
}
