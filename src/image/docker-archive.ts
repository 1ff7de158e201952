// `docker save` / `podman save` archives (`docker-archive:FILE[:name:tag]`): a tar holding
// manifest.json ([{ Config, RepoTags, Layers }]), the config and one file per layer. One image,
// one platform. Read whole (an archive is a file, not a service); written at commit.
import { createReadStream, createWriteStream, renameSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-stream';
import { digestHex, sha256Digest } from './digest.js';
import { type Descriptor, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST, type ImageManifest, manifestKind } from './media.js';
import { ImageError, type ImageSource, type ImageTarget, type StoredManifest } from './store.js';

interface ArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

async function readTar(file: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      if (header.type === 'file') files.set(header.name.replace(/^\.\//, ''), Buffer.concat(chunks));
      next();
    });
    stream.resume();
  });
  await pipeline(createReadStream(file), reader);
  return files;
}

const isGzip = (data: Buffer) => data.length > 2 && data[0] === 0x1f && data[1] === 0x8b;

export class DockerArchiveSource implements ImageSource {
  readonly name: string;
  private files?: Map<string, Buffer>;
  private readonly byDigest = new Map<string, Buffer>();
  private manifestOf?: StoredManifest;

  constructor(private readonly file: string) {
    this.name = `docker-archive:${file}`;
  }

  /** The archive as a Docker schema 2 manifest, its config and layers named by their digests. */
  async top(): Promise<StoredManifest> {
    if (this.manifestOf) return this.manifestOf;
    let files: Map<string, Buffer>;
    try {
      files = await readTar(this.file);
    } catch (err) {
      throw new ImageError(`${this.name}: cannot read it as a tar archive: ${(err as Error).message}`);
    }
    this.files = files;
    const index = files.get('manifest.json');
    if (!index) throw new ImageError(`${this.name}: no manifest.json (not what docker save or podman save writes)`);
    const entries = JSON.parse(index.toString('utf8')) as ArchiveEntry[];
    if (entries.length !== 1) throw new ImageError(`${this.name}: holds ${entries.length} images; inject takes an archive of one`);
    const entry = entries[0]!;
    const descriptor = (name: string, mediaType: (data: Buffer) => string): Descriptor => {
      const data = files.get(name);
      if (!data) throw new ImageError(`${this.name}: ${name} is named in manifest.json but missing`);
      const digest = sha256Digest(data);
      this.byDigest.set(digest, data);
      return { mediaType: mediaType(data), digest, size: data.length };
    };
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: descriptor(entry.Config, () => DOCKER_CONFIG),
      layers: entry.Layers.map((layer) => descriptor(layer, (data) => (isGzip(data) ? DOCKER_LAYER_GZIP : DOCKER_LAYER_TAR))),
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    this.manifestOf = { bytes, mediaType: DOCKER_MANIFEST, digest: sha256Digest(bytes) };
    return this.manifestOf;
  }

  async manifest(digest: string): Promise<StoredManifest> {
    const top = await this.top();
    if (digest !== top.digest) throw new ImageError(`${this.name}: no manifest ${digest}`);
    return top;
  }

  async blob(digest: string): Promise<Buffer> {
    await this.top();
    const data = this.byDigest.get(digest);
    if (!data) throw new ImageError(`${this.name}: no blob ${digest}`);
    return data;
  }
}

export class DockerArchiveTarget implements ImageTarget {
  readonly name: string;
  private readonly blobs = new Map<string, Buffer>();
  private image?: ImageManifest;

  constructor(
    private readonly file: string,
    /** `name:tag` for RepoTags, as `docker load` tags the image. */
    private readonly repoTag: string | undefined,
  ) {
    this.name = `docker-archive:${file}`;
  }

  async hasBlob(digest: string): Promise<boolean> {
    return this.blobs.has(digest);
  }

  async copyBlob(desc: Descriptor, from: ImageSource): Promise<void> {
    this.blobs.set(desc.digest, await from.blob(desc.digest));
  }

  async putBlob(desc: Descriptor, data: Buffer): Promise<void> {
    this.blobs.set(desc.digest, data);
  }

  async putManifest(manifest: StoredManifest, top: boolean): Promise<void> {
    const body = JSON.parse(manifest.bytes.toString('utf8')) as ImageManifest;
    if (manifestKind(manifest.mediaType, body) === 'index') {
      throw new ImageError(`${this.name}: a docker archive holds one platform; pick one with --platform`);
    }
    if (top) this.image = body;
  }

  async commit(): Promise<void> {
    const image = this.image;
    if (!image) throw new ImageError(`${this.name}: nothing to write`);
    const archive = pack();
    const partial = `${this.file}.partial`;
    const written = pipeline(archive, createWriteStream(partial));
    const add = (name: string, data: Buffer) =>
      new Promise<void>((resolve, reject) => archive.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data, (err) => (err ? reject(err) : resolve())));
    const configName = `${digestHex(image.config.digest)}.json`;
    await add(configName, this.blobFor(image.config.digest));
    const layers: string[] = [];
    for (const layer of image.layers) {
      const name = `${digestHex(layer.digest)}.tar`; // gzipped or not: docker and podman load detect it
      if (!layers.includes(name)) await add(name, this.blobFor(layer.digest));
      layers.push(name);
    }
    const entry: ArchiveEntry = { Config: configName, RepoTags: this.repoTag ? [this.repoTag] : null, Layers: layers };
    await add('manifest.json', Buffer.from(JSON.stringify([entry])));
    archive.finalize();
    await written;
    renameSync(partial, this.file);
  }

  private blobFor(digest: string): Buffer {
    const data = this.blobs.get(digest);
    if (!data) throw new ImageError(`${this.name}: blob ${digest} was never written`);
    return data;
  }
}
