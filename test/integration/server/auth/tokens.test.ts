// Tokens on the real server: one canonical string per token (L1), invites that expire, and
// `waypoint-ctl token list|revoke|rotate-operator` with what they do to callers and live
// instances (L8).
import { afterEach, describe, expect, it } from 'vitest';
import { convertInviteToken, grpc, listDeployments, md, openConfig, rpcError, waypointClient } from '../../../helpers/grpc.js';
import { killAll, waitFor } from '../../../helpers/run.js';
import { readContextFile, startServer, stopServers, type TestServer } from '../../../helpers/server.js';

const { status } = grpc;

afterEach(async () => {
  await stopServers();
  killAll();
});

function envLines(stdout: Buffer): Record<string, string> {
  return Object.fromEntries(
    stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

async function ok(server: TestServer, args: string[]) {
  const r = await server.ctl(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr.toString()}`).toBe(0);
  return r;
}

interface TokenRow {
  id: string;
  kind: string;
  app: string | null;
  deployment_id: string | null;
  parent_id: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

async function tokens(server: TestServer, args: string[] = []): Promise<TokenRow[]> {
  return JSON.parse((await ok(server, ['token', 'list', '--json', ...args])).stdout.toString()) as TokenRow[];
}

const listWith = (server: TestServer, token: string) => rpcError(listDeployments(server.control(), md({ token })));

describe('token strings', () => {
  it('L1: the operator token with junk after its MAC, "=" padding or another last character is UNAUTHENTICATED', async () => {
    const server = await startServer();
    const op = server.operatorToken;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(op.at(-1)!);
    const variant = op.slice(0, -1) + alphabet[(last & ~3) | ((last + 1) & 3)];
    for (const token of [`${op}!!`, `${op}=`, variant]) {
      const err = await listWith(server, token);
      expect(err.code, token.slice(-4)).toBe(status.UNAUTHENTICATED);
      expect(err.details).toMatch(/signature does not match/);
    }
    await listDeployments(server.control(), server.operator()); // the token itself still works
  });
});

describe('invites', () => {
  it('L8: expire after 24 h by default, --invite-ttl sets another life or "never", and an expired one is refused', async () => {
    const server = await startServer();
    const day = await ok(server, ['deployment', 'create', 'web']);
    expect(day.stderr.toString()).toMatch(/^the invite can be exchanged until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(`deployment invite \S+` makes a new one\)\n$/);
    await ok(server, ['deployment', 'create', 'forever', '--invite-ttl', 'never']);
    // Exchanged at once, before anything else: within its life even on a loaded machine.
    const wp = waypointClient(server.addr);
    const short = envLines((await ok(server, ['deployment', 'create', 'brief', '--invite-ttl', '4s'])).stdout);
    await convertInviteToken(wp, short.WAYPOINT_CEB_INVITE_TOKEN);

    const rows = await tokens(server);
    const invite = (app: string) => rows.find((t) => t.kind === 'invite' && t.app === app)!;
    const life = (t: TokenRow) => (Date.parse(t.expires_at!) - Date.parse(t.created_at)) / 1000;
    expect(life(invite('web'))).toBe(24 * 3600);
    expect(invite('forever').expires_at).toBeNull();
    expect(life(invite('brief'))).toBe(4);

    let refused: grpc.ServiceError | undefined;
    const attempt = () => convertInviteToken(wp, short.WAYPOINT_CEB_INVITE_TOKEN).then(() => undefined, (e: grpc.ServiceError) => e);
    await waitFor(async () => (refused = await attempt()) !== undefined, { timeoutMs: 15_000, intervalMs: 200, what: () => 'the 4s invite to expire' });
    expect(refused!.code).toBe(status.UNAUTHENTICATED);
    expect(refused!.details).toMatch(/this invite token expired at \S+: make a new one with `waypoint-ctl deployment invite \S+`/);

    // A new invite for the same deployment works.
    const again = envLines((await ok(server, ['deployment', 'invite', short.WAYPOINT_DEPLOYMENT_ID])).stdout);
    expect(again.WAYPOINT_DEPLOYMENT_ID).toBe(short.WAYPOINT_DEPLOYMENT_ID);
    expect((await convertInviteToken(wp, again.WAYPOINT_CEB_INVITE_TOKEN)).token).toMatch(/^wp1\./);
    wp.close();
  });

  it('L8: server run --invite-ttl sets the default; a bad value is a usage error', async () => {
    const server = await startServer({ args: ['--invite-ttl', 'never'] });
    await ok(server, ['deployment', 'create', 'web']);
    expect((await tokens(server)).find((t) => t.kind === 'invite')!.expires_at).toBeNull();
    for (const bad of ['0', 'soon', '500ms']) {
      const r = await server.ctl(['deployment', 'create', 'web', '--invite-ttl', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr.toString()).toMatch(/--invite-ttl/);
    }
  });
});

describe('token list', () => {
  it('L8: ids, kind, app, deployment, created, expires, revoked; never a secret', async () => {
    const server = await startServer();
    const env = envLines((await ok(server, ['deployment', 'create', 'shop'])).stdout);
    const token = await exchange(server, env.WAYPOINT_CEB_INVITE_TOKEN);
    const inst = await server.connectInstance('shop', { deploymentId: env.WAYPOINT_DEPLOYMENT_ID, token });
    const table = (await ok(server, ['token', 'list'])).stdout.toString();
    expect(table.split('\n')[0]).toMatch(/^ID\s+KIND\s+APP\s+DEPLOYMENT\s+CREATED\s+EXPIRES\s+REVOKED$/);
    expect(table).toMatch(/operator\s+-\s+-\s+\S+ \S+\s+never\s+-/);
    expect(table).toMatch(new RegExp(`invite\\s+shop\\s+${env.WAYPOINT_DEPLOYMENT_ID}`));
    expect(table).toMatch(new RegExp(`entrypoint\\s+shop\\s+${env.WAYPOINT_DEPLOYMENT_ID}`));
    const json = JSON.stringify(await tokens(server));
    for (const secret of [env.WAYPOINT_CEB_INVITE_TOKEN, inst.token, server.operatorToken]) {
      const [, claims, mac] = secret.split('.');
      expect(table).not.toContain(mac);
      expect(json).not.toContain(mac);
      expect(json).not.toContain(claims);
    }
    const rows = await tokens(server, ['--app', 'shop']);
    expect(rows.map((t) => t.kind)).toEqual(['invite', 'entrypoint']);
    expect(rows[1].parent_id).toBe(rows[0].id);
  });
});

async function exchange(server: TestServer, invite: string): Promise<string> {
  const wp = waypointClient(server.addr);
  try {
    return (await convertInviteToken(wp, invite)).token;
  } finally {
    wp.close();
  }
}

describe('token revoke', () => {
  it('L8: an entrypoint token: its live instance is dropped (UNAUTHENTICATED) and its next call refused; others stay', async () => {
    const server = await startServer();
    const a = await server.connectInstance('shop');
    const invite = envLines((await ok(server, ['deployment', 'invite', a.deploymentId])).stdout).WAYPOINT_CEB_INVITE_TOKEN;
    const b = await server.connectInstance('shop', { deploymentId: a.deploymentId, token: await exchange(server, invite) });
    // Oldest first: a's token, then b's.
    const entrypoints = (await tokens(server, ['--deployment', a.deploymentId])).filter((t) => t.kind === 'entrypoint');
    const r = await ok(server, ['token', 'revoke', entrypoints[0].id]);
    expect(r.stdout.toString()).toBe(`revoked ${entrypoints[0].id}; 1 connected instance dropped\n`);
    const ended = await a.config.waitForEnd();
    expect(ended?.code).toBe(status.UNAUTHENTICATED);
    expect(ended?.details).toMatch(/was revoked/);
    expect(b.config.error).toBeUndefined();
    expect((await server.instances('shop')).map((i) => i.id)).toEqual([b.id]);
    const retry = openConfig(a.wp, { deployment_id: a.deploymentId, instance_id: a.id, type: 'LONG_RUNNING' }, md({ token: a.token }));
    expect((await retry.waitForEnd())?.details).toMatch(/this entrypoint token was revoked/);
    expect((await tokens(server)).find((t) => t.id === entrypoints[0].id)!.revoked_at).not.toBeNull();
    const twice = await server.ctl(['token', 'revoke', entrypoints[0].id]);
    expect(twice.code).toBe(1);
    expect(twice.stderr.toString()).toMatch(/FAILED_PRECONDITION: token \S+ was already revoked at/);
  });

  it('L8: an invite: refused for new exchanges, its entrypoint tokens revoked with it and their instances dropped', async () => {
    const server = await startServer();
    const env = envLines((await ok(server, ['deployment', 'create', 'shop'])).stdout);
    const token = await exchange(server, env.WAYPOINT_CEB_INVITE_TOKEN);
    const inst = await server.connectInstance('shop', { deploymentId: env.WAYPOINT_DEPLOYMENT_ID, token });
    const other = await server.connectInstance('other');
    const invite = (await tokens(server, ['--app', 'shop'])).find((t) => t.kind === 'invite')!;
    const r = await ok(server, ['token', 'revoke', invite.id]);
    expect(r.stdout.toString()).toBe(`revoked ${invite.id} and 1 entrypoint token exchanged from it; 1 connected instance dropped\n`);
    expect((await inst.config.waitForEnd())?.code).toBe(status.UNAUTHENTICATED);
    const err = await rpcError(exchange(server, env.WAYPOINT_CEB_INVITE_TOKEN));
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.details).toMatch(/this invite token was revoked/);
    expect(other.config.error).toBeUndefined();
  });

  it('L8: refuses an unknown id (NOT_FOUND) and the operator token (use rotate-operator)', async () => {
    const server = await startServer();
    const unknown = await server.ctl(['token', 'revoke', 'NOPE']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.toString()).toMatch(/NOT_FOUND: no token with id "NOPE"/);
    const op = (await tokens(server)).find((t) => t.kind === 'operator')!;
    const r = await server.ctl(['token', 'revoke', op.id]);
    expect(r.code).toBe(1);
    expect(r.stderr.toString()).toMatch(/token rotate-operator/);
  });
});

describe('token rotate-operator', () => {
  it('L8: a new operator token in the context file; the old one refused from then on, across a restart too', async () => {
    const server = await startServer();
    const old = server.operatorToken;
    const r = await ok(server, ['token', 'rotate-operator']);
    expect(r.stdout.toString()).toMatch(/^operator token rotated: \S+ \(in \S+context\.json\); 1 revoked\n$/);
    expect(r.stdout.toString()).not.toContain('wp1.');
    const fresh = readContextFile(server).token as string;
    expect(fresh).not.toBe(old);
    expect((await listWith(server, old)).details).toMatch(/this operator token was revoked/);
    await ok(server, ['deployment', 'list']); // the ctl reads the new token from the context
    await server.restart();
    expect(readContextFile(server).token).toBe(fresh); // the server rebuilds the new one at start
    expect((await listWith(server, old)).code).toBe(status.UNAUTHENTICATED);
    await ok(server, ['deployment', 'list']);
  });

  it('L8: with --token (no context file of its own) prints the new token once', async () => {
    const server = await startServer();
    const r = await server.ctl(['token', 'rotate-operator', '--server-addr', server.addr, '--token', server.operatorToken]);
    expect(r.code, r.stderr.toString()).toBe(0);
    const fresh = /^operator token (wp1\.\S+)\n$/.exec(r.stdout.toString())![1];
    expect(r.stderr.toString()).toMatch(/not shown again/);
    await listDeployments(server.control(), md({ token: fresh }));
    expect((await listWith(server, server.operatorToken)).code).toBe(status.UNAUTHENTICATED);
  });
});
