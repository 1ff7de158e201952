// Tokens of the reference server: a signed claim, not a database key, so that verifying one is a
// MAC check and a forged or altered token is rejected before any lookup.
//
//   wp1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "wp1.<base64url(JSON claims)>"))>
//
// Claims: { kind: "operator" | "invite" | "entrypoint" | "url", id: <ulid>, deployment?: <id>, iat: <unix s> }.
// A "url" token has no record: it is made from its deployment (see tunnel/url-token.ts).
// The MAC covers the version prefix too, so a later format cannot be confused with this one.
// Signing is deterministic: the same claims and key always give the same token, which lets the
// server rebuild its operator token from the stored claims instead of storing the secret itself.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'wp1';
export const TOKEN_KINDS = ['operator', 'invite', 'entrypoint', 'url'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

export interface TokenClaims {
  kind: TokenKind;
  /** Unique per token: the key of its record, so it can be revoked. */
  id: string;
  /** The deployment an invite, entrypoint or URL token belongs to; absent for the operator. */
  deployment?: string;
  /** Issued at, in seconds since the epoch. */
  iat: number;
}

export type VerifyResult = { ok: true; claims: TokenClaims } | { ok: false; reason: string };

/** A key shorter than this is a mistake (a truncated key file), not a choice. */
export const MIN_KEY_BYTES = 32;

export class TokenSigner {
  constructor(private readonly key: Buffer) {
    if (key.length < MIN_KEY_BYTES) throw new Error(`token signing key is ${key.length} bytes, need at least ${MIN_KEY_BYTES}`);
  }

  sign(claims: TokenClaims): string {
    const body = `${TOKEN_PREFIX}.${Buffer.from(JSON.stringify(orderedClaims(claims))).toString('base64url')}`;
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  verify(token: string): VerifyResult {
    const parts = token.trim().split('.');
    if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX) return { ok: false, reason: 'not a token of this server (malformed)' };
    // One canonical string per token: the signature must be the exact base64url text of the MAC.
    // Decoding it instead would accept junk characters, '=' padding and the last character's
    // unused bits (Buffer.from(.., 'base64url') ignores all three).
    const given = Buffer.from(parts[2]);
    const expected = Buffer.from(this.mac(`${parts[0]}.${parts[1]}`).toString('base64url'));
    // Compare in constant time; a length mismatch leaks nothing worth hiding.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, reason: 'signature does not match (not issued by this server, or altered)' };
    }
    const claims = parseClaims(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return claims ? { ok: true, claims } : { ok: false, reason: 'signed, but its claims are malformed' };
  }

  /**
   * A MAC of `text` for `purpose` with the signing key (what replicas prove to each other
   * outside tokens); a purpose of its own, so it can never pass for a token's signature.
   */
  macFor(purpose: string, text: string): string {
    return this.mac(`${purpose}\n${text}`).toString('base64url');
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest();
  }
}

/** A fixed key order, so that equal claims always serialise (and so sign) identically. */
function orderedClaims(c: TokenClaims): TokenClaims {
  return c.deployment === undefined
    ? { kind: c.kind, id: c.id, iat: c.iat }
    : { kind: c.kind, id: c.id, deployment: c.deployment, iat: c.iat };
}

function parseClaims(json: string): TokenClaims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!TOKEN_KINDS.includes(v.kind as TokenKind)) return undefined;
  if (typeof v.id !== 'string' || v.id === '') return undefined;
  if (typeof v.iat !== 'number' || !Number.isInteger(v.iat)) return undefined;
  const needsDeployment = v.kind !== 'operator';
  if (needsDeployment !== (typeof v.deployment === 'string' && v.deployment !== '')) return undefined;
  return orderedClaims(v as unknown as TokenClaims);
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
