// inject on images made here, through an OCI layout and a docker archive: what the new config,
// manifest and layer hold; one layer per platform with its own binary; the same digest twice;
// an image already injected left as it is; the errors a user can act on.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DockerArchiveSource, DockerArchiveTarget } from '../../../src/image/docker-archive.js';
import { injectImage, type InjectOptions } from '../../../src/image/inject.js';
import { OciLayoutSource, OciLayoutTarget } from '../../../src/image/oci-layout.js';
import { sha256, tarEntries, testImage, testIndex, writeOciLayout } from '../../helpers/images.js';

let dir: string;
let binaryDir: string;
const logs: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-image-'));
  binaryDir = path.join(dir, 'bin');
  mkdirSync(binaryDir);
  // Stand-ins for the release binaries: what matters is which one lands in which image.
  writeFileSync(path.join(binaryDir, 'waypoint-entrypoint-linux-x64'), 'x64 binary');
  writeFileSync(path.join(binaryDir, 'waypoint-entrypoint-linux-arm64'), 'arm64 binary');
  logs.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function options(source: InjectOptions['source'], target: InjectOptions['target'], extra: Partial<InjectOptions> = {}): InjectOptions {
  return { source, target, binaryDir, createdBy: 'test inject', log: (l) => logs.push(l), ...extra };
}

const json = (data: Buffer) => JSON.parse(data.toString('utf8'));

/** The files of a gzip layer: name → { mode, uid, gid, mtime, content }. */
async function layerFiles(gz: Buffer) {
  const files: Record<string, { mode: number; uid: number; gid: number; mtime: number; content: string }> = {};
  for (const [name, { header: h, content }] of await tarEntries(gz)) {
    files[name] = { mode: h.mode!, uid: h.uid!, gid: h.gid!, mtime: h.mtime!.getTime(), content: content.toString() };
  }
  return files;
}

/** The image a layout names: its manifest, config and blobs. */
async function readImage(layout: string, tag: string, digest?: string) {
  const source = new OciLayoutSource(layout, tag);
  const top = digest ? await source.manifest(digest) : await source.top();
  const manifest = json(top.bytes);
  const config = manifest.config ? json(await source.blob(manifest.config.digest)) : undefined; // an index has none
  return { top, manifest, config, blob: (d: string) => source.blob(d) };
}

describe('inject, one platform', () => {
  it('adds one layer holding /waypoint-entrypoint (0755, root, fixed mtime) and puts it in front of the Entrypoint', async () => {
    const image = await testImage({ run: { Entrypoint: ['/usr/bin/tini', '--'], Cmd: ['node', 'app.js'] } });
    writeOciLayout(path.join(dir, 'src'), 'v1', { bytes: image.manifest, digest: image.manifestDigest, mediaType: image.mediaType }, image.blobs);
    const result = await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 'v1'), new OciLayoutTarget(path.join(dir, 'out'), 'v1')));
    const out = await readImage(path.join(dir, 'out'), 'v1');
    expect(result).toEqual({ digest: out.top.digest, platforms: [{ platform: 'linux/amd64', outcome: 'injected' }] });
    expect(out.config.config).toEqual({ Entrypoint: ['/waypoint-entrypoint', '/usr/bin/tini', '--'], Cmd: ['node', 'app.js'] });
    expect(out.manifest.layers).toHaveLength(2);
    const added = out.manifest.layers[1];
    expect(added.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const gz = await out.blob(added.digest);
    expect(await layerFiles(gz)).toEqual({ 'waypoint-entrypoint': { mode: 0o755, uid: 0, gid: 0, mtime: 0, content: 'x64 binary' } });
    expect(out.config.rootfs.diff_ids).toEqual([json(image.blobs.get(json(image.manifest).config.digest)!).rootfs.diff_ids[0], sha256(gunzipSync(gz))]);
    expect(out.config.history.at(-1)).toEqual({ created: '2026-01-02T03:04:05Z', created_by: 'test inject', comment: '/waypoint-entrypoint added in front of the Entrypoint' });
  });

  it('keeps Cmd and makes the entrypoint the whole Entrypoint when the image had none', async () => {
    const image = await testImage({ run: { Cmd: ['python3', '-m', 'http.server'] } });
    writeOciLayout(path.join(dir, 'src'), 't', { bytes: image.manifest, digest: image.manifestDigest, mediaType: image.mediaType }, image.blobs);
    await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 't'), new OciLayoutTarget(path.join(dir, 'out'), 't')));
    expect((await readImage(path.join(dir, 'out'), 't')).config.config).toEqual({ Entrypoint: ['/waypoint-entrypoint'], Cmd: ['python3', '-m', 'http.server'] });
  });

  it('writes Docker media types into a Docker image, OCI ones into an OCI image', async () => {
    const image = await testImage({ family: 'docker' });
    writeOciLayout(path.join(dir, 'src'), 't', { bytes: image.manifest, digest: image.manifestDigest, mediaType: image.mediaType }, image.blobs);
    await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 't'), new OciLayoutTarget(path.join(dir, 'out'), 't')));
    const out = await readImage(path.join(dir, 'out'), 't');
    expect(out.manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(out.manifest.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(out.manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
    ]);
  });

  it('gives the same digests when the same image is injected twice', async () => {
    const image = await testImage({});
    writeOciLayout(path.join(dir, 'src'), 't', { bytes: image.manifest, digest: image.manifestDigest, mediaType: image.mediaType }, image.blobs);
    const first = await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 't'), new OciLayoutTarget(path.join(dir, 'a'), 't')));
    const second = await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 't'), new OciLayoutTarget(path.join(dir, 'b'), 't')));
    expect(second.digest).toBe(first.digest);
  });

  it('leaves an image that already has it as it is, and says so', async () => {
    const image = await testImage({});
    writeOciLayout(path.join(dir, 'src'), 't', { bytes: image.manifest, digest: image.manifestDigest, mediaType: image.mediaType }, image.blobs);
    const once = await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 't'), new OciLayoutTarget(path.join(dir, 'a'), 't')));
    const twice = await injectImage(options(new OciLayoutSource(path.join(dir, 'a'), 't'), new OciLayoutTarget(path.join(dir, 'b'), 't')));
    expect(twice).toEqual({ digest: once.digest, platforms: [{ platform: 'linux/amd64', outcome: 'already' }] });
    expect((await readImage(path.join(dir, 'b'), 't')).manifest.layers).toHaveLength(2); // one entrypoint layer, not two
    expect(logs.at(-1)).toContain('already has the entrypoint');
  });

  it('refuses an image with neither Entrypoint nor Cmd', async () => {
    const image = await testImage({ run: { Entrypoint: null, Cmd: null } });
    writeOciLayout(path.join(dir, 'src'), 't', { bytes: image.manifest, digest: image.manifestDigest, mediaType: image.mediaType }, image.blobs);
    await expect(injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 't'), new OciLayoutTarget(path.join(dir, 'out'), 't')))).rejects.toThrow(
      'the image has neither Entrypoint nor Cmd',
    );
  });

  it('names the platform and the missing file when there is no binary for it', async () => {
    const s390 = await testImage({ arch: 's390x' });
    writeOciLayout(path.join(dir, 'src'), 't', { bytes: s390.manifest, digest: s390.manifestDigest, mediaType: s390.mediaType }, s390.blobs);
    await expect(injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 't'), new OciLayoutTarget(path.join(dir, 'out'), 't')))).rejects.toThrow(
      'no entrypoint binary for linux/s390x',
    );
    rmSync(path.join(binaryDir, 'waypoint-entrypoint-linux-x64'));
    const amd64 = await testImage({});
    writeOciLayout(path.join(dir, 'src2'), 't', { bytes: amd64.manifest, digest: amd64.manifestDigest, mediaType: amd64.mediaType }, amd64.blobs);
    await expect(injectImage(options(new OciLayoutSource(path.join(dir, 'src2'), 't'), new OciLayoutTarget(path.join(dir, 'out'), 't')))).rejects.toThrow(
      `${path.join(binaryDir, 'waypoint-entrypoint-linux-x64')} is missing`,
    );
  });
});

describe('inject, a multi-platform index', () => {
  async function twoPlatforms(extra: Array<{ arch: string; annotations?: Record<string, string>; os?: string }> = []) {
    const amd64 = await testImage({ arch: 'amd64' });
    const arm64 = await testImage({ arch: 'arm64' });
    const others = await Promise.all(extra.map((e) => testImage({ arch: e.arch })));
    const index = testIndex([
      { image: amd64, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ...others.map((image, i) => ({ image, platform: { os: extra[i]!.os ?? 'linux', architecture: extra[i]!.arch }, annotations: extra[i]!.annotations })),
    ]);
    writeOciLayout(path.join(dir, 'src'), 'multi', index, index.blobs);
  }

  it('injects each platform with the binary of its own architecture', async () => {
    await twoPlatforms();
    const result = await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 'multi'), new OciLayoutTarget(path.join(dir, 'out'), 'multi')));
    expect(result.platforms).toEqual([
      { platform: 'linux/amd64', outcome: 'injected' },
      { platform: 'linux/arm64/v8', outcome: 'injected' },
    ]);
    const index = (await readImage(path.join(dir, 'out'), 'multi')).top;
    const entries = json(index.bytes).manifests;
    expect(entries.map((e: { platform: unknown }) => e.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    for (const [entry, binary] of [[entries[0], 'x64 binary'], [entries[1], 'arm64 binary']] as const) {
      const image = await readImage(path.join(dir, 'out'), 'multi', entry.digest);
      const files = await layerFiles(await image.blob(image.manifest.layers.at(-1).digest));
      expect(files['waypoint-entrypoint']!.content).toBe(binary);
    }
  });

  it('names the platforms it has no binary for, and leaves them out only when --platform does', async () => {
    await twoPlatforms([{ arch: 's390x' }, { arch: 'amd64', os: 'windows' }]);
    const src = () => new OciLayoutSource(path.join(dir, 'src'), 'multi');
    await expect(injectImage(options(src(), new OciLayoutTarget(path.join(dir, 'out'), 'multi')))).rejects.toThrow(
      'no entrypoint binary for linux/s390x, windows/amd64; pass --platform',
    );
    const result = await injectImage(options(src(), new OciLayoutTarget(path.join(dir, 'out'), 'multi'), { platforms: ['linux/amd64', 'linux/arm64'] }));
    expect(result.platforms.map((p) => p.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(logs).toEqual(expect.arrayContaining(['linux/s390x: left out (--platform)', 'windows/amd64: left out (--platform)']));
  });

  it('drops buildx attestation entries, which describe the old manifests', async () => {
    await twoPlatforms([{ arch: 'unknown', os: 'unknown', annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }]);
    const result = await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 'multi'), new OciLayoutTarget(path.join(dir, 'out'), 'multi')));
    expect(json((await readImage(path.join(dir, 'out'), 'multi')).top.bytes).manifests).toHaveLength(2);
    expect(result.platforms).toHaveLength(2);
  });

  it('refuses to write an index into a docker archive, which holds one platform', async () => {
    await twoPlatforms();
    await expect(
      injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 'multi'), new DockerArchiveTarget(path.join(dir, 'out.tar'), 'app:v1'))),
    ).rejects.toThrow('a docker archive holds one platform; pick one with --platform');
  });
});

describe('inject, docker archives', () => {
  it('reads one, writes one: manifest.json, config, layers, RepoTags from the target name', async () => {
    const image = await testImage({});
    writeOciLayout(path.join(dir, 'src'), 't', { bytes: image.manifest, digest: image.manifestDigest, mediaType: image.mediaType }, image.blobs);
    await injectImage(options(new OciLayoutSource(path.join(dir, 'src'), 't'), new DockerArchiveTarget(path.join(dir, 'a.tar'), 'wp/app:v1')));
    const again = await injectImage(options(new DockerArchiveSource(path.join(dir, 'a.tar')), new OciLayoutTarget(path.join(dir, 'out'), 't')));
    expect(again.platforms).toEqual([{ platform: 'linux/amd64', outcome: 'already' }]);
    const files = await tarEntries(readFileSync(path.join(dir, 'a.tar')));
    const [entry] = json(files.get('manifest.json')!.content);
    expect(entry.RepoTags).toEqual(['wp/app:v1']);
    expect(entry.Layers).toHaveLength(2);
    expect(json(files.get(entry.Config)!.content).config.Entrypoint).toEqual(['/waypoint-entrypoint']);
  });
});
