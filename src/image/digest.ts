// Content addresses: sha256 of the bytes, as every image format names its blobs.
import { createHash } from 'node:crypto';

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** `sha256:<64 hex>`: the only algorithm we write; anything else read is refused by name. */
export function digestHex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`unsupported or malformed digest ${JSON.stringify(digest)} (only sha256 is supported)`);
  return m[1]!;
}
