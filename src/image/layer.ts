// The layer we add: one file, /waypoint-entrypoint, mode 0755, owned by root, with a fixed mtime,
// gzipped deterministically (no name, mtime 0 in the gzip header): the same binary always
// gives the same bytes, so injecting the same image twice gives the same digests.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { sha256Digest } from './digest.js';

export const ENTRYPOINT_PATH = '/waypoint-entrypoint';

export interface Layer {
  /** The gzipped tar, as pushed (and as written into a docker archive: docker and podman load it). */
  gzip: Buffer;
  /** Digest of the gzip (the blob's name). */
  digest: string;
  /** Digest of the plain tar (the config's rootfs.diff_ids entry). */
  diffId: string;
}

/** SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the epoch. */
function layerTime(env: NodeJS.ProcessEnv): Date {
  const epoch = env.SOURCE_DATE_EPOCH;
  return new Date(epoch && /^\d+$/.test(epoch) ? Number(epoch) * 1000 : 0);
}

export async function entrypointLayer(binaryFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Layer> {
  const binary = readFileSync(binaryFile);
  const tar = await tarOf(ENTRYPOINT_PATH.slice(1), binary, layerTime(env));
  // zlib's default level: level 9 takes 2.6 times as long here for 0.3 % less (39.7 against 39.8 MiB).
  const gzip = gzipSync(tar, { level: 6 });
  return { gzip, digest: sha256Digest(gzip), diffId: sha256Digest(tar) };
}

function tarOf(name: string, content: Buffer, mtime: Date): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const archive = pack();
    const chunks: Buffer[] = [];
    archive.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    archive.on('end', () => resolve(Buffer.concat(chunks)));
    archive.on('error', reject);
    archive.entry({ name, size: content.length, mode: 0o755, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime, type: 'file' }, content, (err) => {
      if (err) reject(err);
      else archive.finalize();
    });
  });
}
