// Token signing and verification: the format, determinism, and every way a token can be wrong.
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TOKEN_PREFIX, type TokenClaims, TokenSigner } from '../../../../src/server/auth/tokens.js';

const key = randomBytes(32);
const signer = new TokenSigner(key);
const invite: TokenClaims = { kind: 'invite', id: '01HZZZZZZZZZZZZZZZZZZZZZZZ', deployment: '01HDEPLOYMENT0000000000000', iat: 1_700_000_000 };
const operator: TokenClaims = { kind: 'operator', id: '01HOPERATOR000000000000000', iat: 1_700_000_000 };

function reason(token: string): string {
  const r = signer.verify(token);
  if (r.ok) throw new Error(`expected ${token} to be refused`);
  return r.reason;
}

/** The token with its payload replaced, keeping the original MAC. */
function withPayload(token: string, payload: unknown): string {
  const [prefix, , mac] = token.split('.');
  return `${prefix}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${mac}`;
}

describe('TokenSigner', () => {
  it('makes wp1.<base64url claims>.<base64url HMAC-SHA256> tokens', () => {
    const token = signer.sign(invite);
    const [prefix, payload, mac] = token.split('.');
    expect(prefix).toBe(TOKEN_PREFIX);
    expect(JSON.parse(Buffer.from(payload, 'base64url').toString())).toEqual(invite);
    expect(Buffer.from(mac, 'base64url')).toHaveLength(32);
    expect(token).toMatch(/^[A-Za-z0-9_.-]+$/); // safe in env files and shell words
  });

  it('verifies what it signed, for each kind', () => {
    expect(signer.verify(signer.sign(invite))).toEqual({ ok: true, claims: invite });
    expect(signer.verify(signer.sign(operator))).toEqual({ ok: true, claims: operator });
    const entrypoint: TokenClaims = { ...invite, kind: 'entrypoint' };
    expect(signer.verify(signer.sign(entrypoint))).toEqual({ ok: true, claims: entrypoint });
  });

  it('is deterministic, whatever the key order of the claims', () => {
    const reordered = { iat: invite.iat, deployment: invite.deployment, id: invite.id, kind: invite.kind } as TokenClaims;
    expect(signer.sign(reordered)).toBe(signer.sign(invite));
  });

  it('ignores surrounding whitespace (a token pasted from a terminal)', () => {
    expect(signer.verify(`  ${signer.sign(invite)}\n`).ok).toBe(true);
  });

  it('refuses a token signed with another key', () => {
    const forged = new TokenSigner(randomBytes(32)).sign(operator);
    expect(reason(forged)).toMatch(/signature does not match/);
  });

  it('refuses altered claims (an invite turned into an operator token)', () => {
    const token = signer.sign(invite);
    expect(reason(withPayload(token, { ...invite, kind: 'operator' }))).toMatch(/signature/);
    expect(reason(withPayload(token, { ...invite, deployment: 'another' }))).toMatch(/signature/);
  });

  it('refuses an altered or truncated MAC', () => {
    const token = signer.sign(invite);
    const flipped = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
    expect(reason(flipped)).toMatch(/signature/);
    expect(reason(token.slice(0, -5))).toMatch(/signature/);
    expect(reason(`${token.split('.').slice(0, 2).join('.')}.`)).toMatch(/signature/);
  });

  it('L1: one canonical string per token: junk after the MAC, padding or the last character\'s unused bits are refused', () => {
    const token = signer.sign(operator);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(token.at(-1)!);
    // A 32-byte MAC is 43 characters: the last carries 4 bits, so 4 characters decode the same.
    const variants = [0, 1, 2, 3].map((low) => token.slice(0, -1) + alphabet[(last & ~3) | low]).filter((t) => t !== token);
    expect(variants).toHaveLength(3);
    for (const variant of variants) expect(Buffer.from(variant.split('.')[2], 'base64url')).toEqual(Buffer.from(token.split('.')[2], 'base64url'));
    for (const bad of [`${token}!!`, `${token}=`, `${token}==`, ...variants]) expect(reason(bad), bad).toMatch(/signature/);
    expect(signer.verify(token).ok).toBe(true);
  });

  it.each(['', 'garbage', 'a.b', 'a.b.c.d', 'wp2.e30.AAAA', `${TOKEN_PREFIX}..`])('refuses the malformed %j', (token) => {
    expect(signer.verify(token).ok).toBe(false);
  });

  it('refuses a well-signed token whose claims are not valid claims', () => {
    const sign = (payload: unknown) => {
      const body = `${TOKEN_PREFIX}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      // sign() only takes valid claims: build these by hand, with the right key.
      return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
    };
    expect(reason(sign({ kind: 'admin', id: 'x', iat: 1 }))).toMatch(/claims are malformed/);
    expect(reason(sign({ kind: 'invite', id: 'x', iat: 1 }))).toMatch(/claims are malformed/); // no deployment
    expect(reason(sign({ kind: 'operator', id: 'x', deployment: 'd', iat: 1 }))).toMatch(/claims are malformed/);
    expect(reason(sign({ kind: 'operator', id: '', iat: 1 }))).toMatch(/claims are malformed/);
    expect(reason(sign({ kind: 'operator', id: 'x', iat: 'now' }))).toMatch(/claims are malformed/);
    expect(reason(sign('just a string'))).toMatch(/claims are malformed/);
    expect(signer.verify(sign({ kind: 'operator', id: 'x', iat: 1 })).ok).toBe(true); // the control case
  });

  it('refuses a key too short to be safe', () => {
    expect(() => new TokenSigner(randomBytes(16))).toThrow(/at least 32/);
  });
});
