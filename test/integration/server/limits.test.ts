// What one entrypoint token can make the reference server hold, against the real server: log
// memory from padded batches (H5), live instances per deployment and per token, instance ids,
// config streams nobody reads, retention of gone instances per app (M4), a gone instance's id
// taken by another deployment (L2), log timestamps no reader can show (M6); no HPACK table per
// connection (issue 16).
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { convertInviteToken, getLogs, grpc, logEntry, md, openConfig, rpcError, setConfig } from '../../helpers/grpc.js';
import { encodeBatch } from '../../helpers/log-batch.js';
import { killAll, waitFor } from '../../helpers/run.js';
import { type FakeInstance, logRecords, startServer, stopServers, type TestServer } from '../../helpers/server.js';

const { status } = grpc;

afterEach(async () => {
  await stopServers();
  killAll();
});

/** Resident memory of a process, from /proc (bytes). */
function rss(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!kb) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb[1]) * 1024;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

async function lines(server: TestServer, instanceId: string): Promise<string[]> {
  const res = await getLogs(server.control(), { instance_id: instanceId }, server.operator());
  return res.flatMap((r) => r.lines.map((l) => l.line));
}

async function ship(inst: FakeInstance, text: string, timestamp?: { seconds: string; nanos: number }): Promise<void> {
  const stream = inst.logs();
  stream.send({ instance_id: inst.id, lines: [{ ...logEntry(text), ...(timestamp && { timestamp }) }] });
  expect(await stream.end()).toBeNull();
}

describe('log memory (H5)', () => {
  it('H5: 100 batches of one 1-byte line padded to 3.8 MiB (t_padmem.js) leave the server near the line bytes', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const padding = 3900 * 1024;
    const batch = Buffer.concat([
      encodeBatch({ instance_id: inst.id, lines: [{ line: 'x' }] }),
      Buffer.from([0x7a]), // field 15, LEN: unknown to the server
      varint(padding),
      Buffer.alloc(padding, 0x61),
    ]);
    const before = rss(server.proc.pid);
    const stream = inst.logs();
    for (let n = 0; n < 100; n++) stream.sendRaw(batch);
    expect(await stream.end()).toBeNull();
    expect(await lines(server, inst.id)).toEqual(Array(100).fill('x'));
    // 381 MiB came in; before the fix every message stayed whole (+381 MiB). What is left now is
    // the 100 lines and garbage not collected yet, which the runtime keeps well below this.
    const grown = rss(server.proc.pid) - before;
    expect(grown, `server RSS grew ${(grown / 1048576).toFixed(0)} MiB`).toBeLessThan(150 * 1024 * 1024);
  }, 60_000);

  it('H5: --log-memory bounds all instances together: the one holding most loses its oldest lines', async () => {
    const server = await startServer({ args: ['--log-memory', '2MiB'] });
    const a = await server.connectInstance('web');
    const b = await server.connectInstance('api');
    const batch = (inst: FakeInstance, tag: string) => {
      const stream = inst.logs();
      stream.send({ instance_id: inst.id, lines: Array.from({ length: 100 }, (_, i) => logEntry(`${tag}${i} ${'y'.repeat(10_000)}`)) });
      return stream.end();
    };
    for (const tag of ['a1-', 'a2-', 'a3-']) expect(await batch(a, tag)).toBeNull(); // 3 MB: over the bound alone
    const kept = await lines(server, a.id);
    expect(kept.length).toBeLessThan(200);
    expect(kept.at(-1)).toMatch(/^a3-99 /); // the newest stay
    expect(await batch(b, 'b-')).toBeNull();
    expect(await lines(server, b.id)).toHaveLength(100);
    expect((await lines(server, a.id)).length).toBeLessThan(kept.length);
    expect((await server.instances('web'))[0].log_lines_received).toBe('300'); // counted, all of them
  });

  it('H5, M4: --log-memory, --max-instances-per-* and --config-stall-timeout refuse what is no size, count or duration (exit 2)', async () => {
    const server = await startServer();
    const bad = [
      ['--log-memory', '1KiB'],
      ['--log-memory', 'lots'],
      ['--max-instances-per-token', '0'],
      ['--max-instances-per-deployment', '1.5'],
      ['--config-stall-timeout', 'soon'],
    ];
    for (const [flag, value] of bad) {
      const r = await server.ctl(['server', 'run', '--listen', '127.0.0.1:0', '--http-listen', 'off', '--no-context', flag, value, '--data-dir', `${server.dataDir}-x`]);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr.toString()).toContain(flag);
      expect(r.stderr.toString()).not.toMatch(/unknown option/);
    }
  });
});

describe('connections (issue 16)', () => {
  it('advertises no HPACK dynamic table (memory each of a fleet\'s connections would hold), and entrypoints work as before', async () => {
    const server = await startServer();
    const session = http2.connect(`http://${server.addr}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve, reject) => {
        session.once('remoteSettings', resolve);
        session.once('error', reject);
      });
      expect(settings.headerTableSize).toBe(0);
    } finally {
      session.destroy();
    }
    const instance = await server.connectInstance('web');
    expect((await server.instances('web')).map((i) => i.id)).toEqual([instance.id]);
  });
});

describe('instances (M4)', () => {
  it('M4: live instances are capped per token and per deployment, with RESOURCE_EXHAUSTED naming the flag', async () => {
    const server = await startServer({ args: ['--max-instances-per-deployment', '3', '--max-instances-per-token', '2'] });
    const { deploymentId, inviteToken } = await server.createDeployment('web');
    const wp = (await server.connectInstance('other')).wp;
    const t1 = (await convertInviteToken(wp, inviteToken)).token;
    const t2 = (await convertInviteToken(wp, inviteToken)).token;
    const a = await server.connectInstance('web', { deploymentId, token: t1 });
    await server.connectInstance('web', { deploymentId, token: t1 });
    const refused = (token: string) => openConfig(wp, { deployment_id: deploymentId, instance_id: `X${token.length}${Date.now()}` }, md({ token })).waitForEnd();
    const perToken = await refused(t1);
    expect(perToken?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(perToken?.details).toMatch(/this token has 2 live instances.*--max-instances-per-token/);
    await server.connectInstance('web', { deploymentId, token: a.token, instanceId: a.id }); // the same one again: no new instance
    await server.connectInstance('web', { deploymentId, token: t2 });
    const perDeployment = await refused(t2);
    expect(perDeployment?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(perDeployment?.details).toMatch(new RegExp(`deployment ${deploymentId} has 3 live instances.*--max-instances-per-deployment`));
    expect(await server.instances('web')).toHaveLength(3);
  });

  it('M4: by default one token registers 100 live instances (t_streams.js), and the 101st is refused', async () => {
    const server = await startServer();
    const first = await server.connectInstance('shop');
    const streams = [];
    for (let i = 1; i < 100; i++) {
      const s = openConfig(first.wp, { deployment_id: first.deploymentId, instance_id: `STREAM-${i}` }, md({ token: first.token }));
      await s.waitForMessages(1);
      expect(s.error).toBeUndefined();
      streams.push(s);
    }
    const refused = await openConfig(first.wp, { deployment_id: first.deploymentId, instance_id: 'STREAM-100' }, md({ token: first.token })).waitForEnd();
    expect(refused?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused?.details).toMatch(/--max-instances-per-token/);
    expect(await server.instances('shop')).toHaveLength(100);
    for (const s of streams) s.cancel();
  }, 60_000);

  it('M4: an instance id over 128 characters or with control characters is refused (INVALID_ARGUMENT), also in a log batch', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    for (const id of ['a'.repeat(300 * 1024), 'evil\x1b]0;owned\x07\r']) {
      const err = await openConfig(inst.wp, { deployment_id: inst.deploymentId, instance_id: id }, md({ token: inst.token })).waitForEnd();
      expect(err?.code).toBe(status.INVALID_ARGUMENT);
      expect(err!.details.length).toBeLessThan(300);
      const stream = inst.logs();
      stream.send({ instance_id: id, lines: [logEntry('x')] });
      expect((await stream.end())?.code).toBe(status.INVALID_ARGUMENT);
    }
    expect((await server.instances()).map((i) => i.id)).toEqual([inst.id]);
  });

  it('M4: an instance that does not read its config stream (t_noread.js) holds one config at most and is dropped, logged; one that reads gets the last push', async () => {
    // From the environment, not the flag: the same test runs against a server without the fix.
    const server = await startServer({ env: { WAYPOINT_SERVER_CONFIG_STALL_TIMEOUT: '1s' } });
    const reader = await server.connectInstance('web');
    const stuck: Array<ClientReadableStream<unknown>> = [];
    const ended: number[] = [];
    for (let i = 0; i < 3; i++) {
      const call = reader.wp.EntrypointConfig({ deployment_id: reader.deploymentId, instance_id: `NOREAD-${i}` }, md({ token: reader.token }));
      call.on('error', (err: grpc.ServiceError) => ended.push(err.code));
      call.once('data', () => call.pause());
      stuck.push(call);
    }
    await waitFor(async () => (await server.instances('web')).length === 4, { what: () => 'the 4 instances' });
    const control = server.control();
    const pushes = 40;
    for (let n = 0; n < pushes; n++) {
      // 100 KiB each, internal (never in an env): a paused client's buffers take ~17 of them.
      await setConfig(control, { app: 'web', set: [{ name: 'BIG', kind: 'INTERNAL', value: Buffer.alloc(100 * 1024, 65 + n) }] }, server.operator());
    }
    await waitFor(async () => (await server.instances('web')).length === 1, { what: () => 'the non-reading instances dropped' });
    expect((await server.instances('web')).map((i) => i.id)).toEqual([reader.id]);
    // The reader may skip configs pushed while one was in flight, never the last.
    await waitFor(() => reader.config.messages.at(-1)?.config?.env_vars?.some((v) => v.name === 'BIG' && v.static?.[0] === String.fromCharCode(65 + pushes - 1)) === true, { what: () => 'the last push' });
    expect(reader.config.ended).toBe(false);
    const log = logRecords(server.proc.stderr());
    for (let i = 0; i < 3; i++) {
      const dropped = log.find((r) => r.msg === 'instance dropped: it does not read its config stream' && r.instance === `NOREAD-${i}`);
      expect(dropped, JSON.stringify(log)).toMatchObject({ level: 40, app: 'web' });
      expect(dropped!.queued).toBeLessThanOrEqual(1); // one config in flight at most, not every push
    }
    // Reset, not left waiting behind what they never read: each sees its stream end, to reconnect.
    await waitFor(() => ended.length === 3, { what: () => `the 3 streams reset; got ${JSON.stringify(ended)}` });
    expect(ended).toEqual([status.CANCELLED, status.CANCELLED, status.CANCELLED]);
  }, 60_000);

  it("M4: a token churning 99 instances never evicts another app's retained gone instance (retention per app)", async () => {
    const server = await startServer();
    const victim = await server.connectInstance('other');
    await ship(victim, 'why I crashed\n');
    victim.config.cancel();
    await waitFor(async () => (await server.instances('other')).length === 0, { what: () => 'the victim gone' });
    const shop = await server.connectInstance('shop');
    const churn = [];
    for (let i = 0; i < 99; i++) {
      // 99 and the first: as many as one token may have live at once, more than the 64 kept gone.
      const s = openConfig(shop.wp, { deployment_id: shop.deploymentId, instance_id: `CHURN-${i}` }, md({ token: shop.token }));
      await s.waitForMessages(1);
      expect(s.error).toBeUndefined();
      churn.push(s);
    }
    for (const s of churn) s.cancel();
    await waitFor(async () => (await server.instances('shop')).length === 1, { what: () => 'the churned instances gone' });
    expect(await lines(server, victim.id)).toEqual(['why I crashed']);
  }, 60_000);
});

describe('gone instance ids (L2)', () => {
  it("L2: another deployment's token cannot register a gone instance id whose logs are retained; its logs stay", async () => {
    const server = await startServer();
    const victim = await server.connectInstance('other');
    await ship(victim, 'victim line\n');
    victim.config.cancel();
    await waitFor(async () => (await server.instances('other')).length === 0, { what: () => 'the victim gone' });
    const attacker = await server.connectInstance('shop');
    const err = await openConfig(attacker.wp, { deployment_id: attacker.deploymentId, instance_id: victim.id }, md({ token: attacker.token })).waitForEnd();
    expect(err?.code).toBe(status.ALREADY_EXISTS);
    expect(err?.details).toMatch(new RegExp(`instance id ${victim.id} belongs to deployment ${victim.deploymentId}`));
    const stream = attacker.logs();
    stream.send({ instance_id: victim.id, lines: [logEntry('attacker line\n')] });
    expect((await stream.end())?.code).toBe(status.PERMISSION_DENIED);
    expect(await lines(server, victim.id)).toEqual(['victim line']);
    // Its own deployment may come back under the same id.
    await server.connectInstance('other', { deploymentId: victim.deploymentId, token: victim.token, instanceId: victim.id });
  });
});

describe('log timestamps (M6)', () => {
  it('M6: lines with out-of-range timestamps (t_oddts.js) get the arrival time; every form of `logs` works', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const before = Date.now();
    const stream = inst.logs();
    stream.send({
      instance_id: inst.id,
      lines: [
        { line: 'far future\n', timestamp: { seconds: String(2 ** 53), nanos: 0 } },
        { line: 'negative nanos\n', timestamp: { seconds: '1700000000', nanos: -5 } },
        { line: 'negative seconds\n', timestamp: { seconds: '-99999999999999', nanos: 0 } },
        { line: 'normal\n', timestamp: { seconds: '1700000000', nanos: 0 } },
      ],
    });
    expect(await stream.end()).toBeNull();
    const json = await server.ctl(['logs', '--json']);
    expect(json.code).toBe(0);
    const got = json.stdout.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as { line: string; timestamp: string });
    expect(got.map((l) => l.line)).toEqual(['normal', 'far future', 'negative nanos', 'negative seconds']);
    for (const l of got.slice(1)) expect(Date.parse(l.timestamp)).toBeGreaterThanOrEqual(before - 1000);
    for (const args of [['logs'], ['logs', '--app', 'web'], ['logs', '--instance', inst.id]]) {
      const r = await server.ctl(args);
      expect(r.stderr.toString()).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toMatch(/far future/);
    }
  });
});
