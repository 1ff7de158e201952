// `waypoint-ctl image inject`: the entrypoint added to an existing image, as a layer of its own
// and in front of its Entrypoint, for every platform of an index; no container daemon. Reads
// from one place and writes to another (store.ts); what is unchanged is copied as it is (within
// one registry, mounted), only the new layer, config and manifests are written.
import { binaryFor, supportedPlatform } from './binaries.js';
import { sha256Digest } from './digest.js';
import { injectConfig, type ImageConfig, isInjected } from './inject-config.js';
import { entrypointLayer, type Layer } from './layer.js';
import { type Descriptor, familyTypes, type ImageIndex, type ImageManifest, manifestKind, type Platform, platformName } from './media.js';
import { ImageError, type ImageSource, type ImageTarget, type StoredManifest } from './store.js';

export interface InjectOptions {
  source: ImageSource;
  target: ImageTarget;
  /** Where the per-platform binaries are (waypoint-entrypoint-linux-{x64,arm64}). */
  binaryDir: string;
  /** `linux/amd64`…: only these (the others of an index are left out); all supported when unset. */
  platforms?: string[];
  /** `created_by` of the history entry. */
  createdBy: string;
  log: (line: string) => void;
}

export interface InjectResult {
  /** The digest of what the target now names. */
  digest: string;
  /** Per platform: injected, or already had it. */
  platforms: Array<{ platform: string; outcome: 'injected' | 'already' }>;
}

/** docker buildx's provenance and SBOM entries: about the old manifests, meaningless for the new. */
function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}

export async function injectImage(o: InjectOptions): Promise<InjectResult> {
  const layers = new Map<string, Promise<Layer>>();
  const layerOf = (file: string) => {
    if (!layers.has(file)) layers.set(file, entrypointLayer(file));
    return layers.get(file)!;
  };
  const top = await o.source.top();
  const body = JSON.parse(top.bytes.toString('utf8')) as ImageIndex | ImageManifest;
  const results: InjectResult['platforms'] = [];
  const wanted = (p: Platform) => !o.platforms || o.platforms.includes(`${p.os}/${p.architecture}`) || o.platforms.includes(platformName(p));

  if (manifestKind(top.mediaType, body) === 'manifest') {
    const done = await injectOne(o, top, layerOf, wanted, true);
    results.push(done.result);
    await o.target.commit();
    return { digest: done.descriptor.digest, platforms: results };
  }

  const index = body as ImageIndex;
  const entries = index.manifests.filter((d) => !isAttestation(d));
  const unsupported = entries.filter((d) => !d.platform || !supportedPlatform(d.platform)).filter((d) => !d.platform || wanted(d.platform));
  if (unsupported.length > 0) {
    const names = unsupported.map((d) => (d.platform ? platformName(d.platform) : `${d.digest} (no platform)`));
    throw new ImageError(`${o.source.name}: no entrypoint binary for ${names.join(', ')}; pass --platform linux/amd64,linux/arm64 (those the image has) to leave the others out`);
  }
  const chosen = entries.filter((d) => wanted(d.platform!));
  if (chosen.length === 0) throw new ImageError(`${o.source.name}: none of its platforms (${entries.map((d) => platformName(d.platform!)).join(', ')}) is among --platform ${o.platforms!.join(',')}`);
  for (const d of entries.filter((x) => !chosen.includes(x))) o.log(`${platformName(d.platform!)}: left out (--platform)`);
  const manifests: Descriptor[] = [];
  for (const entry of chosen) {
    const done = await injectOne(o, await o.source.manifest(entry.digest), layerOf, wanted, false, entry);
    results.push(done.result);
    manifests.push({ ...entry, ...done.descriptor, platform: entry.platform });
  }
  const newIndex = { ...index, manifests };
  const bytes = Buffer.from(JSON.stringify(newIndex));
  const stored: StoredManifest = { bytes, mediaType: top.mediaType || (index.mediaType ?? ''), digest: sha256Digest(bytes) };
  await o.target.putManifest(stored, true);
  await o.target.commit();
  return { digest: stored.digest, platforms: results };
}

async function injectOne(
  o: InjectOptions,
  stored: StoredManifest,
  layerOf: (file: string) => Promise<Layer>,
  wanted: (p: Platform) => boolean,
  top: boolean,
  entry?: Descriptor,
): Promise<{ descriptor: Descriptor; result: InjectResult['platforms'][number] }> {
  const manifest = JSON.parse(stored.bytes.toString('utf8')) as ImageManifest;
  const mediaType = manifest.mediaType ?? stored.mediaType;
  const config = JSON.parse((await o.source.blob(manifest.config.digest)).toString('utf8')) as ImageConfig;
  const platform: Platform = entry?.platform ?? { os: config.os ?? 'linux', architecture: config.architecture ?? 'unknown', variant: config.variant };
  const name = platformName(platform);
  if (top && !wanted(platform)) throw new ImageError(`${o.source.name}: the image is ${name}, not among --platform ${o.platforms!.join(',')}`);
  if (!supportedPlatform(platform)) binaryFor(platform, o.binaryDir); // throws the clear error

  await copyBlobs(o, manifest.layers);
  if (isInjected(config)) {
    await copyBlobs(o, [manifest.config]);
    o.log(`${name}: already has the entrypoint (its Entrypoint starts with /waypoint-entrypoint): copied as it is`);
    await o.target.putManifest(stored, top);
    return { descriptor: { mediaType, digest: stored.digest, size: stored.bytes.length }, result: { platform: name, outcome: 'already' } };
  }
  const binary = binaryFor(platform, o.binaryDir);
  o.log(`${name}: layering ${binary} (tar and gzip take a few seconds)`);
  const layer = await layerOf(binary);
  const types = familyTypes(mediaType);
  const layerDesc: Descriptor = { mediaType: types.layerGzip, digest: layer.digest, size: layer.gzip.length };
  if (!(await o.target.hasBlob(layer.digest))) await o.target.putBlob(layerDesc, layer.gzip);
  const configBytes = Buffer.from(JSON.stringify(injectConfig(config, layer.diffId, o.createdBy)));
  const configDesc: Descriptor = { mediaType: manifest.config.mediaType, digest: sha256Digest(configBytes), size: configBytes.length };
  await o.target.putBlob(configDesc, configBytes);
  const bytes = Buffer.from(JSON.stringify({ ...manifest, config: configDesc, layers: [...manifest.layers, layerDesc] }));
  const digest = sha256Digest(bytes);
  await o.target.putManifest({ bytes, mediaType, digest }, top);
  o.log(`${name}: entrypoint layer ${layer.digest.slice(0, 19)}… (${(layer.gzip.length / 1024 / 1024).toFixed(1)} MiB) added`);
  return { descriptor: { mediaType, digest, size: bytes.length }, result: { platform: name, outcome: 'injected' } };
}

/** The blobs the new manifest shares with the old one, into the target unless already there. */
async function copyBlobs(o: InjectOptions, descriptors: Descriptor[]): Promise<void> {
  for (const d of descriptors) {
    if (!(await o.target.hasBlob(d.digest))) await o.target.copyBlob(d, o.source);
  }
}
