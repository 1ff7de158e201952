// The two families of image formats a registry, an OCI layout or `docker save` holds: Docker's
// schema 2 and OCI's. An image keeps its own family: what we add to it (a layer, a new config, a
// new manifest) is written with the media types of the family it already uses.

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';

/** What a registry is asked for: every manifest kind we can read. */
export const MANIFEST_ACCEPT = [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(', ');

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  [key: string]: unknown;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  [key: string]: unknown;
}

/** A manifest's own type: its mediaType field, else what it holds (OCI allows it unset). */
export function manifestKind(mediaType: string | undefined, body: { manifests?: unknown; config?: unknown }): 'index' | 'manifest' {
  if (mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST) return 'index';
  if (mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST) return 'manifest';
  if (Array.isArray(body.manifests)) return 'index';
  if (body.config !== undefined) return 'manifest';
  throw new Error(`not an image manifest or index (media type ${mediaType ?? 'unset'})`);
}

/** Docker's family or OCI's, from a manifest's media type. */
export function isDockerFamily(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.docker.');
}

/** The media types of a new gzip layer and config for an image of `manifestType`'s family. */
export function familyTypes(manifestType: string): { layerGzip: string; layerTar: string; config: string } {
  return isDockerFamily(manifestType)
    ? { layerGzip: DOCKER_LAYER_GZIP, layerTar: DOCKER_LAYER_TAR, config: DOCKER_CONFIG }
    : { layerGzip: OCI_LAYER_GZIP, layerTar: OCI_LAYER_TAR, config: OCI_CONFIG };
}

/** `linux/amd64`, `linux/arm64/v8`. */
export function platformName(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
