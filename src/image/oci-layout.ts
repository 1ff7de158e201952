// An OCI image layout directory (`oci:DIR[:tag]`): `oci-layout`, `index.json` naming each image
// by its `org.opencontainers.image.ref.name` annotation, and every blob in blobs/sha256/.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { digestHex, sha256Digest } from './digest.js';
import { type Descriptor, type ImageIndex, OCI_INDEX } from './media.js';
import { ImageError, type ImageSource, type ImageTarget, type StoredManifest } from './store.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

function blobPath(dir: string, digest: string): string {
  return path.join(dir, 'blobs', 'sha256', digestHex(digest));
}

function readIndex(dir: string): ImageIndex {
  const file = path.join(dir, 'index.json');
  if (!existsSync(file)) throw new ImageError(`${dir} is not an OCI image layout (no index.json)`);
  return JSON.parse(readFileSync(file, 'utf8')) as ImageIndex;
}

export class OciLayoutSource implements ImageSource {
  readonly name: string;
  constructor(
    private readonly dir: string,
    private readonly tag: string | undefined,
  ) {
    this.name = `oci:${dir}${tag ? `:${tag}` : ''}`;
  }

  async top(): Promise<StoredManifest> {
    const entries = readIndex(this.dir).manifests;
    const named = this.tag === undefined ? entries : entries.filter((m) => m.annotations?.[REF_NAME] === this.tag);
    if (named.length !== 1) {
      const tags = entries.map((m) => m.annotations?.[REF_NAME]).filter(Boolean);
      const which = this.tag === undefined ? 'name the image with oci:DIR:TAG' : `no image is tagged ${this.tag}`;
      throw new ImageError(`${this.name}: ${which} (tags in it: ${tags.join(', ') || 'none'})`);
    }
    return this.manifest(named[0]!.digest, named[0]!.mediaType);
  }

  async manifest(digest: string, mediaType?: string): Promise<StoredManifest> {
    const bytes = await this.blob(digest);
    return { bytes, digest, mediaType: mediaType ?? (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? '' };
  }

  async blob(digest: string): Promise<Buffer> {
    const file = blobPath(this.dir, digest);
    if (!existsSync(file)) throw new ImageError(`${this.name}: blob ${digest} is missing from the layout`);
    return readFileSync(file);
  }
}

export class OciLayoutTarget implements ImageTarget {
  readonly name: string;
  private top?: Descriptor;

  constructor(
    private readonly dir: string,
    private readonly tag: string | undefined,
  ) {
    this.name = `oci:${dir}${tag ? `:${tag}` : ''}`;
    mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    const layoutFile = path.join(dir, 'oci-layout');
    if (!existsSync(layoutFile)) writeFileSync(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return existsSync(blobPath(this.dir, digest));
  }

  async copyBlob(desc: Descriptor, from: ImageSource): Promise<void> {
    await this.putBlob(desc, await from.blob(desc.digest));
  }

  async putBlob(desc: Descriptor, data: Buffer): Promise<void> {
    if (sha256Digest(data) !== desc.digest) throw new ImageError(`${this.name}: blob ${desc.digest} does not match its content`);
    writeAtomically(blobPath(this.dir, desc.digest), data);
  }

  async putManifest(manifest: StoredManifest, top: boolean): Promise<void> {
    writeAtomically(blobPath(this.dir, manifest.digest), manifest.bytes);
    if (top) this.top = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
  }

  /** index.json gets the new image under its tag, replacing one of the same tag. */
  async commit(): Promise<void> {
    if (!this.top) return;
    const indexFile = path.join(this.dir, 'index.json');
    const index: ImageIndex = existsSync(indexFile) ? readIndex(this.dir) : { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    const entry: Descriptor = { ...this.top, ...(this.tag ? { annotations: { [REF_NAME]: this.tag } } : {}) };
    const others = index.manifests.filter((m) => (this.tag ? m.annotations?.[REF_NAME] !== this.tag : m.digest !== entry.digest));
    writeAtomically(indexFile, Buffer.from(JSON.stringify({ ...index, manifests: [...others, entry] })));
  }
}

function writeAtomically(file: string, data: Buffer): void {
  const partial = `${file}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, file);
}
