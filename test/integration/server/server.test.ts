// The reference server (`waypoint-ctl server run`) as a real process on 127.0.0.1, driven by
// gRPC clients built from our protocol layer: version info, invites and tokens, who may call
// what, instance registration, inline keepalives, version checks, TLS and restarts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ulid } from '../../../src/ids.js';
import { INLINE_KEEPALIVE_BYTES } from '../../../src/protocol/keepalive.js';
import { protocol } from '../../../src/protocol/load.js';
import { TokenSigner } from '../../../src/server/auth/tokens.js';
import {
  controlClient,
  convertInviteToken,
  createDeployment,
  getVersionInfo,
  grpc,
  listDeployments,
  listInstances,
  md,
  openConfig,
  rpcError,
  waypointClient,
} from '../../helpers/grpc.js';
import { killAll, ROOT, run, waitFor } from '../../helpers/run.js';
import { CTL, serverSigningKey, startServer, stopServers, type TestServer } from '../../helpers/server.js';

const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
const { status } = grpc;

const clients: grpc.Client[] = [];
function track<T extends grpc.Client>(client: T): T {
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await stopServers();
  killAll();
});

/** A deployment and an entrypoint token for it, as an entrypoint would get it. */
async function enrolled(server: TestServer, app = 'web') {
  const { deploymentId, inviteToken } = await server.createDeployment(app, { env: 'test' });
  const wp = track(waypointClient(server.addr, server.clientTls));
  const { token } = await convertInviteToken(wp, inviteToken);
  return { deploymentId, inviteToken, token, wp };
}

function configRequest(deploymentId: string, extra: { instance_id?: string; disable_exec?: boolean } = {}) {
  return { deployment_id: deploymentId, instance_id: extra.instance_id ?? ulid(), type: 'LONG_RUNNING' as const, disable_exec: extra.disable_exec ?? false };
}

describe('server run', () => {
  it('keeps its signing key private and answers GetVersionInfo without a token', async () => {
    const server = await startServer();
    if (server.databaseUrl) {
      // PostgreSQL: the key is the database's (every replica signs with it); nothing goes on disk.
      expect(await serverSigningKey(server)).toHaveLength(32);
      expect(existsSync(server.dataDir)).toBe(false);
    } else {
      expect(statSync(path.join(server.dataDir, 'signing.key')).mode & 0o777).toBe(0o600);
      expect(statSync(server.dataDir).mode & 0o777).toBe(0o700);
    }
    const wp = track(waypointClient(server.addr));
    const res = await getVersionInfo(wp);
    expect(res.info).toEqual({ api: { current: 1, minimum: 1 }, entrypoint: { current: 1, minimum: 1 }, version: VERSION });
    expect(res.server_features?.features).toEqual(['FEATURE_INLINE_KEEPALIVES']);
  });

  it('server replicas: one server on SQLite says so; on PostgreSQL it is one replica, alive, at its address', async () => {
    const server = await startServer();
    const r = await server.ctl(['server', 'replicas', '--json']);
    expect(r.code).toBe(0);
    const { shared, replicas } = JSON.parse(r.stdout.toString()) as { shared: boolean; replicas: Array<{ alive: boolean; self: boolean; grpc_address: string }> };
    expect(shared).toBe(server.databaseUrl !== undefined);
    expect(replicas).toMatchObject([{ alive: true, self: true, grpc_address: server.addr }]);
    const text = (await server.ctl(['server', 'replicas'])).stdout.toString();
    if (shared) expect(text).toMatch(/^REPLICA\s+HEALTH/);
    else expect(text).toBe(`one server on SQLite (no replicas): ${server.addr}, 0 instances; replicas need --database\n`);
  });

  it('refuses an --advertise address others cannot dial, and a --replica-timeout too short (usage, exit 2)', async () => {
    for (const [flag, value, message] of [
      ['--advertise', '0.0.0.0:9701', /invalid --advertise "0\.0\.0\.0:9701": give the host:port other replicas reach this one at/],
      ['--advertise', '10.0.0.5:0', /invalid --advertise "10\.0\.0\.5:0"/],
      ['--advertise', 'nonsense', /invalid --advertise "nonsense": expected host:port/],
      ['--replica-timeout', '100ms', /--replica-timeout must be at least 500ms/],
    ] as const) {
      const r = await run(['server', 'run', '--listen', '127.0.0.1:0', flag, value], { bin: CTL });
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr.toString()).toMatch(message);
      expect(r.stderr.toString().trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('tokens', () => {
  it('exchanges an invite for an entrypoint token that opens the config stream', async () => {
    const server = await startServer();
    const { deploymentId, token, wp } = await enrolled(server);
    expect(token).toMatch(/^wp1\./);
    const stream = openConfig(wp, configRequest(deploymentId), md({ token }));
    await stream.waitForMessages(1);
    expect(stream.error).toBeUndefined();
    expect(stream.messages[0].config?.deployment?.labels).toEqual({ env: 'test' });
    expect(stream.messages[0].config?.env_vars).toEqual([]);
    stream.cancel();
  });

  it('refuses unknown, forged and misused invites with a clear message', async () => {
    const server = await startServer();
    const { token, wp } = await enrolled(server);
    const garbage = await rpcError(convertInviteToken(wp, 'garbage'));
    expect(garbage.code).toBe(status.UNAUTHENTICATED);
    expect(garbage.details).toMatch(/invalid token/);
    const forged = new TokenSigner(Buffer.alloc(32, 7)).sign({ kind: 'invite', id: ulid(), deployment: 'x', iat: 1 });
    expect((await rpcError(convertInviteToken(wp, forged))).code).toBe(status.UNAUTHENTICATED);
    const notInvite = await rpcError(convertInviteToken(wp, token));
    expect(notInvite.code).toBe(status.PERMISSION_DENIED);
    expect(notInvite.details).toMatch(/not an invite token/);
    expect((await rpcError(convertInviteToken(wp, ''))).code).toBe(status.UNAUTHENTICATED);
  });

  it('refuses a well-signed invite the server has no record of', async () => {
    const server = await startServer();
    const { deploymentId, wp } = await enrolled(server);
    // Signed with the server's own key, so only the missing record can refuse it.
    const key = await serverSigningKey(server);
    const unknown = new TokenSigner(key).sign({ kind: 'invite', id: ulid(), deployment: deploymentId, iat: 1 });
    const err = await rpcError(convertInviteToken(wp, unknown));
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.details).toMatch(/unknown token: this server has no record of it/);
  });

  it('refuses a missing, garbage or forged token with UNAUTHENTICATED, on every RPC', async () => {
    const server = await startServer();
    const { deploymentId, wp } = await enrolled(server);
    const control = track(controlClient(server.addr));
    // Re-signed with another key: the right shape and claims, the wrong signature.
    const forged = new TokenSigner(Buffer.alloc(32, 1)).sign({ kind: 'operator', id: ulid(), iat: 1 });
    for (const token of [undefined, 'garbage', forged]) {
      const m = md({ token });
      const list = await rpcError(listDeployments(control, m));
      expect(list.code, `ListDeployments with ${token}`).toBe(status.UNAUTHENTICATED);
      const config = await openConfig(wp, configRequest(deploymentId), m).waitForEnd();
      expect(config?.code, `EntrypointConfig with ${token}`).toBe(status.UNAUTHENTICATED);
    }
    expect((await rpcError(listDeployments(control, md()))).details).toMatch(/needs a token/);
  });

  it('lets an entrypoint token register only for its own deployment, and call no control RPC', async () => {
    const server = await startServer();
    const a = await enrolled(server, 'app-a');
    const b = await server.createDeployment('app-b');
    const other = await openConfig(a.wp, configRequest(b.deploymentId), md({ token: a.token })).waitForEnd();
    expect(other?.code).toBe(status.PERMISSION_DENIED);
    expect(other?.details).toMatch(/belongs to deployment/);

    const control = track(controlClient(server.addr));
    const m = md({ token: a.token });
    // One call at a time: a call started early would reject with nobody yet awaiting it.
    const calls = [() => listDeployments(control, m), () => listInstances(control, m), () => createDeployment(control, 'x', {}, m)];
    for (const call of calls) {
      const err = await rpcError(call());
      expect(err.code).toBe(status.PERMISSION_DENIED);
      expect(err.details).toMatch(/operator token/);
    }
  });

  it('refuses an invite token used as a call token', async () => {
    const server = await startServer();
    const { deploymentId, inviteToken } = await server.createDeployment('web');
    const wp = track(waypointClient(server.addr));
    const err = await openConfig(wp, configRequest(deploymentId), md({ token: inviteToken })).waitForEnd();
    expect(err?.code).toBe(status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/ConvertInviteToken/);
  });

  it('checks the token of a log stream and of an exec stream before reading its first message', async () => {
    const server = await startServer();
    const { token, wp } = await enrolled(server);
    const logs = (m: grpc.Metadata) =>
      new Promise<grpc.ServiceError | null>((resolve) => {
        const call = wp.EntrypointLogStream(m, (err) => resolve(err));
        call.end();
      });
    expect((await logs(md()))?.code).toBe(status.UNAUTHENTICATED);
    expect(await logs(md({ token }))).toBeNull(); // an empty log stream is fine

    const exec = (m: grpc.Metadata) =>
      new Promise<grpc.ServiceError>((resolve) => {
        const call = wp.EntrypointExecStream(m);
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write({ exit: { code: 0 } });
      });
    expect((await exec(md({ token: 'garbage' }))).code).toBe(status.UNAUTHENTICATED);
    const execErr = await exec(md({ token }));
    expect(execErr.code).toBe(status.INVALID_ARGUMENT);
    expect(execErr.details).toMatch(/first EntrypointExecStream message must be open/);
  });
});

describe('versions', () => {
  it('refuses an incompatible client-entrypoint-protocol with FAILED_PRECONDITION, accepts 1,1 and none', async () => {
    const server = await startServer();
    const { deploymentId, inviteToken, token, wp } = await enrolled(server);
    const tooNew = await rpcError(convertInviteToken(wp, inviteToken, md({ entrypointProtocol: '2,3' })));
    expect(tooNew.code).toBe(status.FAILED_PRECONDITION);
    expect(tooNew.details).toMatch(/incompatible entrypoint protocol.*2 to 3.*1 to 1/);
    const config = await openConfig(wp, configRequest(deploymentId), md({ token, entrypointProtocol: '2,2' })).waitForEnd();
    expect(config?.code).toBe(status.FAILED_PRECONDITION);
    const malformed = await rpcError(convertInviteToken(wp, inviteToken, md({ entrypointProtocol: 'one' })));
    expect(malformed.code).toBe(status.INVALID_ARGUMENT);

    await convertInviteToken(wp, inviteToken, md({ entrypointProtocol: '1,1', apiProtocol: '1,1' }));
    const ok = openConfig(wp, configRequest(deploymentId), md({ token, entrypointProtocol: '1,2' }));
    await ok.waitForMessages(1);
    expect(ok.error).toBeUndefined();
    ok.cancel();
  });
});

describe('instances', () => {
  it('registers an instance while its config stream is open, and forgets it when cancelled', async () => {
    const server = await startServer();
    const { deploymentId, token, wp } = await enrolled(server, 'shop');
    const id = ulid();
    const stream = openConfig(wp, configRequest(deploymentId, { instance_id: id, disable_exec: true }), md({ token }));
    await stream.waitForMessages(1);
    const [instance, ...rest] = await server.instances();
    expect(rest).toEqual([]);
    expect(instance).toMatchObject({ id, deployment_id: deploymentId, app: 'shop', type: 'LONG_RUNNING', exec_disabled: true });
    expect(instance.remote_address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Number(instance.connected_since?.seconds)).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(await server.instances('other-app')).toEqual([]);

    stream.cancel();
    await waitFor(async () => (await server.instances()).length === 0, { what: () => 'the instance to be removed' });
  });

  it('forgets an instance whose client connection drops', async () => {
    const server = await startServer();
    const { deploymentId, token } = await enrolled(server);
    const proxy = await tcpProxy(server.port);
    const wp = track(waypointClient(`127.0.0.1:${proxy.port}`));
    const stream = openConfig(wp, configRequest(deploymentId), md({ token }));
    await stream.waitForMessages(1);
    expect(await server.instances()).toHaveLength(1);
    proxy.cut(); // both TCP connections reset, as when the entrypoint's host vanishes
    await waitFor(async () => (await server.instances()).length === 0, { what: () => 'the instance to be removed' });
    proxy.close();
  });

  it('forgets an instance that stops answering HTTP/2 pings', async () => {
    const server = await startServer({ http2KeepaliveMs: 200 });
    const { deploymentId, token } = await enrolled(server);
    const proxy = await tcpProxy(server.port);
    const wp = track(waypointClient(`127.0.0.1:${proxy.port}`));
    const stream = openConfig(wp, configRequest(deploymentId), md({ token }));
    await stream.waitForMessages(1);
    proxy.freeze(); // the connection stays open, but nothing gets through: a host gone silent
    await waitFor(async () => (await server.instances()).length === 0, { what: () => 'the silent instance to be removed' });
    proxy.cut();
    proxy.close();
  });

  it('refuses an unknown deployment and a missing instance id', async () => {
    const server = await startServer();
    const { deploymentId, wp } = await enrolled(server);
    const operator = md({ token: server.operatorToken });
    expect((await openConfig(wp, configRequest(ulid()), operator).waitForEnd())?.code).toBe(status.NOT_FOUND);
    const noId = await openConfig(wp, { ...configRequest(deploymentId), instance_id: '' }, operator).waitForEnd();
    expect(noId?.code).toBe(status.INVALID_ARGUMENT);
  });
});

describe('inline keepalives', () => {
  it('are sent only to clients that asked, as the exact keepalive bytes', async () => {
    const server = await startServer({ keepaliveMs: 50 });
    const { deploymentId, token } = await enrolled(server);
    // A raw client: the deserializer keeps the bytes, so a keepalive is seen as it is on the wire.
    const raw = track(new grpc.Client(server.addr, grpc.credentials.createInsecure()));
    const method = '/hashicorp.waypoint.Waypoint/EntrypointConfig';
    const serialize = protocol().hashicorp.waypoint.Waypoint.service.EntrypointConfig.requestSerialize;
    const open = (asked: boolean) => {
      const frames: Buffer[] = [];
      const call = raw.makeServerStreamRequest(method, serialize, (b: Buffer) => b, configRequest(deploymentId), md({ token, inlineKeepalives: asked }));
      call.on('data', (b: Buffer) => frames.push(b));
      call.on('error', () => undefined);
      return { frames, call };
    };
    const asked = open(true);
    const silent = open(false);
    const keepalives = (frames: Buffer[]) => frames.filter((f) => f.equals(INLINE_KEEPALIVE_BYTES)).length;
    await waitFor(() => keepalives(asked.frames) >= 3 && silent.frames.length >= 1, { what: () => '3 keepalives' });
    expect(silent.frames).toHaveLength(1); // its config, and nothing else all the while
    expect(keepalives(silent.frames)).toBe(0);
    expect(asked.frames[0].equals(INLINE_KEEPALIVE_BYTES)).toBe(false); // the config comes first
    asked.call.cancel();
    silent.call.cancel();
  });

  it('are dropped by our wrapped deserializer, never decoded as a config', async () => {
    const server = await startServer({ keepaliveMs: 50 });
    const { deploymentId, token, wp } = await enrolled(server);
    const stream = openConfig(wp, configRequest(deploymentId), md({ token, inlineKeepalives: true }));
    await waitFor(() => stream.keepalives >= 2, { what: () => '2 keepalives' });
    expect(stream.messages).toHaveLength(1);
    stream.cancel();
  });
});

describe('restart', () => {
  it('keeps deployments and tokens: an old entrypoint token still works', async () => {
    const server = await startServer();
    const { deploymentId, token } = await enrolled(server, 'kept');
    await server.restart(); // SIGKILL, then a new process on the same port and data dir
    const wp = track(waypointClient(server.addr));
    const stream = openConfig(wp, configRequest(deploymentId), md({ token }));
    await stream.waitForMessages(1);
    expect(stream.error).toBeUndefined();
    stream.cancel();
    const control = track(controlClient(server.addr));
    const { deployments } = await listDeployments(control, md({ token: server.operatorToken }));
    expect(deployments.map((d) => [d.id, d.app, d.labels])).toEqual([[deploymentId, 'kept', { env: 'test' }]]);
    expect(server.proc.stdout().toString()).not.toMatch(/operator token wp1/); // shown on first start only
  });

  it('refuses a second server on the same data dir; on PostgreSQL a second one shares the state', async () => {
    const server = await startServer();
    if (!server.databaseUrl) {
      const r = await run(['server', 'run', '--listen', '127.0.0.1:0', '--data-dir', server.dataDir], { bin: CTL, env: server.env() });
      expect(r.code).toBe(1);
      expect(r.stderr.toString()).toMatch(/^waypoint-ctl: .*in use by another server.*\n$/);
      return;
    }
    const { deploymentId } = await server.createDeployment('shared');
    const second = server.startCtl(['server', 'run', '--listen', '127.0.0.1:0', '--http-listen', 'off', '--no-context', '--database', server.databaseUrl]);
    await second.waitForOutput(/listening on 127\.0\.0\.1:\d+/);
    const addr = /listening on (127\.0\.0\.1:\d+)/.exec(second.stdout().toString())![1];
    expect(second.stdout().toString()).not.toMatch(/operator token/); // made once, by the first
    const control = track(controlClient(addr));
    const { deployments } = await listDeployments(control, md({ token: server.operatorToken }));
    expect(deployments.map((d) => d.id)).toEqual([deploymentId]);
  });
});

describe('TLS', () => {
  it('serves TLS with the given certificate, to clients that trust it', async () => {
    const server = await startServer({ tls: true });
    const trusted = track(waypointClient(server.addr, { caFile: server.tls!.caFile }));
    expect((await getVersionInfo(trusted)).info?.version).toBe(VERSION);
    const untrusted = track(waypointClient(server.addr, {}));
    expect((await rpcError(getVersionInfo(untrusted))).code).toBe(status.UNAVAILABLE);
    const plaintext = track(waypointClient(server.addr));
    expect((await rpcError(getVersionInfo(plaintext))).code).toBe(status.UNAVAILABLE);
    const skipVerify = track(waypointClient(server.addr, { skipVerify: true }));
    expect((await getVersionInfo(skipVerify)).info?.version).toBe(VERSION);
  });
});

/** A TCP relay to the server whose connections can be cut (reset) or frozen (kept open, silent). */
async function tcpProxy(targetPort: number): Promise<{ port: number; cut(): void; freeze(): void; close(): void }> {
  const sockets = new Set<Socket>();
  const pairs: Array<[Socket, Socket]> = [];
  const relay = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    port: (relay.address() as { port: number }).port,
    cut: () => {
      for (const s of sockets) s.resetAndDestroy();
    },
    freeze: () => {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close: () => relay.close(),
  };
}
