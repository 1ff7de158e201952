// Small images made in the test itself (no registry, no daemon): an OCI layout or a docker
// archive holding layers of a few files, with the config the test gives, for inject to work on.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract, type Header as TarHeader, pack } from 'tar-stream';

export const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const archive = pack();
    const chunks: Buffer[] = [];
    archive.on('data', (c: unknown) => chunks.push(c as Buffer));
    archive.on('end', () => resolve(Buffer.concat(chunks)));
    archive.on('error', reject);
    for (const [name, content] of Object.entries(files)) archive.entry({ name, mode: 0o755, mtime: new Date(0) }, content);
    archive.finalize();
  });
}

/** The entries of a tar (gunzipped first when it is gzip): name → its header and content. */
export function tarEntries(data: Buffer): Promise<Map<string, { header: TarHeader; content: Buffer }>> {
  const tar = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  return new Promise((resolve, reject) => {
    const entries = new Map<string, { header: TarHeader; content: Buffer }>();
    const x = extract();
    x.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        entries.set(header.name, { header, content: Buffer.concat(chunks) });
        next();
      });
    });
    x.on('finish', () => resolve(entries));
    x.on('error', reject);
    x.end(tar);
  });
}

export interface TestImage {
  /** Blob by digest. */
  blobs: Map<string, Buffer>;
  manifest: Buffer;
  manifestDigest: string;
  mediaType: string;
}

/** One platform's image: a gzip layer of `files`, a config with `config` and `arch`. */
export async function testImage(options: {
  files?: Record<string, string>;
  arch?: string;
  run?: { Entrypoint?: string[] | null; Cmd?: string[] | null };
  family?: 'oci' | 'docker';
}): Promise<TestImage> {
  const family = options.family ?? 'oci';
  const oci = family === 'oci';
  const tar = await tarOf(options.files ?? { 'hello.txt': 'hi\n' });
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: options.arch ?? 'amd64',
      os: 'linux',
      created: '2026-01-02T03:04:05Z',
      config: options.run ?? { Cmd: ['/bin/sh', '-c', 'echo hi'] },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      history: [{ created: '2026-01-02T03:04:05Z', created_by: 'test' }],
    }),
  );
  const mediaType = oci ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: oci ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  return { blobs: new Map([[sha256(config), config], [sha256(layer), layer], [sha256(manifest), manifest]]), manifest, manifestDigest: sha256(manifest), mediaType };
}

/** An index over `images`, each entry with its platform (and extra entries as given). */
export function testIndex(images: Array<{ image: TestImage; platform: Record<string, string>; annotations?: Record<string, string> }>, family: 'oci' | 'docker' = 'oci') {
  const mediaType = family === 'oci' ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.docker.distribution.manifest.list.v2+json';
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: images.map(({ image, platform, annotations }) => ({
        mediaType: image.mediaType,
        digest: image.manifestDigest,
        size: image.manifest.length,
        platform,
        ...(annotations ? { annotations } : {}),
      })),
    }),
  );
  const blobs = new Map<string, Buffer>([[sha256(bytes), bytes]]);
  for (const { image } of images) for (const [d, b] of image.blobs) blobs.set(d, b);
  return { bytes, digest: sha256(bytes), mediaType, blobs };
}

/** Writes an OCI layout with `top` (a manifest or an index) tagged `tag`. */
export function writeOciLayout(dir: string, tag: string, top: { bytes: Buffer; digest: string; mediaType: string }, blobs: Map<string, Buffer>): void {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const [digest, data] of blobs) writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  writeFileSync(path.join(dir, 'blobs', 'sha256', top.digest.slice(7)), top.bytes);
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.bytes.length, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
}
