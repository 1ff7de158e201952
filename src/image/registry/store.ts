// A repository of a registry as an image source and target (../store.ts).
import { sha256Digest } from '../digest.js';
import { type Descriptor, MANIFEST_ACCEPT } from '../media.js';
import { ImageError, type ImageSource, type ImageTarget, type StoredManifest } from '../store.js';
import { RegistryClient, type RegistryOptions } from './client.js';

/** Told as each chunk of a blob reaches the registry. */
export type UploadProgress = (digest: string, sent: number, total: number) => void;

export class RegistryRepository implements ImageSource, ImageTarget {
  readonly name: string;
  readonly client: RegistryClient;
  private readonly progress?: UploadProgress;

  constructor(
    registry: string,
    readonly repository: string,
    /** The tag or digest the location names. */
    private readonly reference: string,
    options: RegistryOptions & { progress?: UploadProgress },
  ) {
    this.progress = options.progress;
    this.client = new RegistryClient(registry, options);
    this.name = `${registry}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  }

  top(): Promise<StoredManifest> {
    return this.manifest(this.reference);
  }

  async manifest(reference: string): Promise<StoredManifest> {
    const res = await this.client.getManifest(this.repository, reference, MANIFEST_ACCEPT);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new ImageError(`${this.name}: the registry's manifest ${reference} has the digest ${digest}`);
    }
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { bytes, digest, mediaType };
  }

  async blob(digest: string): Promise<Buffer> {
    const res = await this.client.getBlob(this.repository, digest);
    const data = Buffer.from(await res.arrayBuffer());
    if (sha256Digest(data) !== digest) throw new ImageError(`${this.name}: blob ${digest} does not match its content`);
    return data;
  }

  hasBlob(digest: string): Promise<boolean> {
    return this.client.hasBlob(this.repository, digest);
  }

  /** Within one registry, linked by a mount: no byte of it travels. */
  async copyBlob(desc: Descriptor, from: ImageSource): Promise<void> {
    if (from instanceof RegistryRepository && from.client.registry === this.client.registry) {
      if (from.repository === this.repository && (await this.hasBlob(desc.digest))) return;
      if (await this.client.mountBlob(this.repository, desc.digest, from.repository)) return;
    }
    await this.putBlob(desc, await from.blob(desc.digest));
  }

  putBlob(desc: Descriptor, data: Buffer): Promise<void> {
    return this.client.uploadBlob(this.repository, desc.digest, data, this.progress && ((sent, total) => this.progress!(desc.digest, sent, total)));
  }

  async putManifest(manifest: StoredManifest, top: boolean): Promise<void> {
    if (top && this.reference.startsWith('sha256:')) throw new ImageError(`${this.name}: a target needs a tag, not a digest`);
    await this.client.putManifest(this.repository, top ? this.reference : manifest.digest, manifest.mediaType, manifest.bytes);
  }

  async commit(): Promise<void> {
    // every write went to the registry as it was made
  }
}
