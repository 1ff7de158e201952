// What inject reads an image from and writes one to: a registry, an OCI layout or a docker
// archive, behind one pair of interfaces (registry/store.ts, oci-layout.ts, docker-archive.ts).
import type { Descriptor } from './media.js';

/** A manifest or an index, as stored: its exact bytes (their digest is its name). */
export interface StoredManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface ImageSource {
  /** For messages: where it is. */
  readonly name: string;
  /** The manifest or index the location names. */
  top(): Promise<StoredManifest>;
  manifest(digest: string): Promise<StoredManifest>;
  blob(digest: string): Promise<Buffer>;
}

export interface ImageTarget {
  readonly name: string;
  hasBlob(digest: string): Promise<boolean>;
  /** A blob `from` has, copied the cheapest way this target knows (a registry mounts it). */
  copyBlob(desc: Descriptor, from: ImageSource): Promise<void>;
  putBlob(desc: Descriptor, data: Buffer): Promise<void>;
  /** `top`: the one the target location names (tagged); else referenced by an index. */
  putManifest(manifest: StoredManifest, top: boolean): Promise<void>;
  /** Makes what was written visible (a layout's index.json, an archive's file). */
  commit(): Promise<void>;
}

/** Thrown for what a user can fix: one line, said as is. */
export class ImageError extends Error {}
