// Token records in a real SQLite store, behind the Authenticator: invite expiry, the bound on
// exchanges of one invite, revocation with its entrypoint tokens, the operator's rotation (L8);
// and `--invite-ttl` as the ctl parses it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseInviteTtl } from '../../../../src/ctl/invite-ttl.js';
import { Authenticator, MAX_EXCHANGES_PER_INVITE } from '../../../../src/server/auth/authenticator.js';
import { openDb, type Db } from '../../../../src/server/store/sqlite/db.js';
import { RpcError, Status } from '../../../../src/server/rpc/status.js';
import { SqliteStore } from '../../../../src/server/store/sqlite/store.js';
import { TokenSigner } from '../../../../src/server/auth/tokens.js';

const dirs: string[] = [];
const dbs: Db[] = [];
afterEach(() => {
  vi.useRealTimers();
  for (const db of dbs.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-token-store-'));
  dirs.push(dir);
  const db = openDb(path.join(dir, 'state.db'));
  dbs.push(db);
  const store = new SqliteStore(db);
  const signer = new TokenSigner(Buffer.alloc(32, 7));
  const deployment = store.createDeployment('shop', {});
  return { db, store, signer, auth: new Authenticator(signer, store), deployment };
}

function refusal(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('invites', () => {
  it('L8: an invite is refused from the second its life ends; one without a life never expires', () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1), toFake: ['Date'] });
    const { store, signer, auth, deployment } = setup();
    const invite = signer.sign(store.issueToken('invite', { deploymentId: deployment.id, ttlSeconds: 3600 }));
    const forever = signer.sign(store.issueToken('invite', { deploymentId: deployment.id }));
    vi.setSystemTime(Date.UTC(2026, 0, 1, 0, 59, 59));
    expect(auth.invite(invite).kind).toBe('invite');
    vi.setSystemTime(Date.UTC(2026, 0, 1, 1, 0, 0));
    const err = refusal(() => auth.invite(invite));
    expect(err.code).toBe(Status.UNAUTHENTICATED);
    expect(err.message).toMatch(/this invite token expired at 2026-01-01T01:00:00.000Z/);
    vi.setSystemTime(Date.UTC(2036, 0, 1));
    expect(auth.invite(forever).kind).toBe('invite');
  });

  it(`L8: one invite is exchanged at most ${MAX_EXCHANGES_PER_INVITE} times (RESOURCE_EXHAUSTED, what to do); another invite still works`, () => {
    const { db, store, signer, auth, deployment } = setup();
    const claims = store.issueToken('invite', { deploymentId: deployment.id });
    const invite = signer.sign(claims);
    db.transaction(() => {
      for (let i = 0; i < MAX_EXCHANGES_PER_INVITE - 1; i++) store.issueToken('entrypoint', { deploymentId: deployment.id, parentId: claims.id });
    })();
    auth.invite(invite); // the last one allowed
    store.issueToken('entrypoint', { deploymentId: deployment.id, parentId: claims.id });
    const err = refusal(() => auth.invite(invite));
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(new RegExp(`exchanged ${MAX_EXCHANGES_PER_INVITE} times, its limit: make a new one with \`waypoint-ctl deployment invite ${deployment.id}\``));
    expect(auth.invite(signer.sign(store.issueToken('invite', { deploymentId: deployment.id }))).kind).toBe('invite');
  });
});

describe('revocation and rotation', () => {
  it('L8: revoking an invite revokes the entrypoint tokens exchanged from it, once; rotation leaves one operator token', () => {
    const { store, deployment } = setup();
    const invite = store.issueToken('invite', { deploymentId: deployment.id });
    const children = [1, 2].map(() => store.issueToken('entrypoint', { deploymentId: deployment.id, parentId: invite.id }).id);
    expect(store.revokeToken(invite.id)).toEqual([invite.id, ...children]);
    expect(store.revokeToken(invite.id)).toEqual([]);
    const first = store.issueToken('operator');
    const { claims, revoked } = store.rotateOperator();
    expect(revoked).toEqual([first.id]);
    expect(store.operatorClaims()?.id).toBe(claims.id);
  });
});

describe('parseInviteTtl', () => {
  it('takes durations and "never"; refuses 0, sub-second, over 10 years and words', () => {
    expect(parseInviteTtl('--invite-ttl', '24h')).toBe(86_400);
    expect(parseInviteTtl('--invite-ttl', '90m')).toBe(5_400);
    expect(parseInviteTtl('--invite-ttl', 'Never')).toBeNull();
    for (const bad of ['0', '500ms', '87601h', 'soon', '']) expect(() => parseInviteTtl('--invite-ttl', bad), bad).toThrow(/--invite-ttl/);
  });
});
