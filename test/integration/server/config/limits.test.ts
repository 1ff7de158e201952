// The server refuses at `config set` a config that could never be applied (H2, M2): an env over
// Linux's exec limits once `${config.internal.X}` is expanded and the scopes merged, or a config
// message over the entrypoint's gRPC receive limit. Connected instances never see it; the change
// is not stored. Also the reserved names of L4.
import { afterEach, describe, expect, it } from 'vitest';
import type { SetConfigRequest } from '../../../../src/protocol/generated/waypoint_entrypoint/control/v1/SetConfigRequest.js';
import { getConfig, grpc, rpcError, setConfig } from '../../../helpers/grpc.js';
import { killAll } from '../../../helpers/run.js';
import { startServer, stopServers, type TestServer } from '../../../helpers/server.js';

const { status } = grpc;

afterEach(async () => {
  await stopServers();
  killAll();
});

type Kind = 'STATIC' | 'INTERNAL' | 'FILE';
const entry = (name: string, value: string, kind: Kind = 'STATIC') => ({ name, kind, value: Buffer.from(value) });

async function set(server: TestServer, req: SetConfigRequest) {
  return setConfig(server.control(), req, server.operator());
}

async function names(server: TestServer, app: string): Promise<string[]> {
  return (await getConfig(server.control(), app, server.operator())).vars.map((v) => v.name);
}

describe('config set refuses what an instance could never apply', () => {
  it('H2: TWICE=${CHUNK}${CHUNK} of a 100 KB internal var is over MAX_ARG_STRLEN once expanded: refused, with the var and the figures', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('bloat');
    const chunk = 'b'.repeat(100_000);
    const first = await server.ctl(['config', 'set', '--app', 'bloat', '--internal', `CHUNK=${chunk}`]);
    expect(first.code, first.stderr.toString()).toBe(0);
    const r = await server.ctl(['config', 'set', '--app', 'bloat', 'TWICE=${config.internal.CHUNK}${config.internal.CHUNK}']);
    expect(r.code).toBe(1);
    expect(r.stderr.toString()).toMatch(/FAILED_PRECONDITION: config not changed: app bloat: env var TWICE would be 200007 bytes once expanded .*131072 per env string \(MAX_ARG_STRLEN\)/);
    expect(r.stderr.toString().trim().split('\n')).toHaveLength(1);
    expect(await names(server, 'bloat')).toEqual(['CHUNK']);
    expect(inst.config.messages).toHaveLength(2); // the first config, then CHUNK: nothing for TWICE
    // One reference fits: what the operator meant can still be said.
    expect((await server.ctl(['config', 'set', '--app', 'bloat', 'ONCE=${config.internal.CHUNK}'])).code).toBe(0);
  });

  it('H2: 22 vars of 100 KB, two per change: the changes that fit are taken, the one over 1 MiB of env is refused', async () => {
    const server = await startServer();
    const big = 'v'.repeat(100_000);
    let refused: grpc.ServiceError | undefined;
    let accepted = 0;
    for (let i = 0; i < 22 && !refused; i += 2) {
      const req = { app: 'other', set: [entry(`BIG_A${i}`, big), entry(`BIG_B${i}`, big)] };
      refused = await set(server, req).then(
        () => void accepted++,
        (err: grpc.ServiceError) => err,
      );
    }
    expect(accepted).toBe(5); // 10 vars: 1 000 170 bytes of env
    expect(refused?.code).toBe(status.FAILED_PRECONDITION);
    expect(refused?.details).toMatch(/^config not changed: app other: the env would be 12\d{5} bytes once expanded .* over the 1048576 \(1 MiB\)/);
    expect(await names(server, 'other')).toHaveLength(10);
  });

  it('H2: a global change that would push one app over the limit is refused and names that app', async () => {
    const server = await startServer();
    const web = await server.connectInstance('web');
    const big = 'g'.repeat(100_000);
    await set(server, { app: 'web', set: Array.from({ length: 10 }, (_, i) => entry(`W${i}`, big)) });
    await set(server, { app: 'quiet', set: [entry('Q', '1')] });
    await web.config.waitForMessages(2);
    const err = await rpcError(set(server, { app: '', set: [entry('GLOBAL_BIG', big)] }));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/app web: the env would be \d+ bytes/);
    expect(await names(server, '')).toEqual([]);
    // A global var web overrides does not add to web's env: that one is taken.
    await set(server, { app: '', set: [entry('W0', big)] });
    expect(await names(server, '')).toEqual(['W0']);
  });

  it('M2: t_bloat: 100 000 tiny vars in one change are refused at once (1.8 MB of env), nothing stored', async () => {
    const server = await startServer();
    const set100k = Array.from({ length: 100_000 }, (_, i) => entry(`V${String(i).padStart(6, '0')}`, 'x'));
    const err = await rpcError(set(server, { app: 'bloat', set: set100k }));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/app bloat: the env would be 1800000 bytes once expanded/);
    expect(await names(server, 'bloat')).toEqual([]);
  });

  it('M2: internal vars under the old 3 MiB of names and values but over 3 MiB encoded are refused; the instance keeps its stream', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('bloat');
    // 6000 × (6 + 510) = 3 096 000 bytes of names and values (the old check took it); ~3.17 MB encoded.
    const vars = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => entry(`V${String(from + i).padStart(5, '0')}`, 'y'.repeat(510), 'INTERNAL'));
    await set(server, { app: 'bloat', set: vars(0, 5000) });
    const err = await rpcError(set(server, { app: 'bloat', set: vars(5000, 1000) }));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/app bloat: the config message would be 3168\d{3} bytes encoded, over the 3145728 \(3 MiB\) allowed/);
    await inst.config.waitForMessages(2);
    expect(inst.config.messages).toHaveLength(2);
    expect(inst.config.error).toBeUndefined();
    const next = await server.connectInstance('bloat');
    expect(next.config.messages[0].config?.env_vars).toHaveLength(5000);
  });

  it('M2: file vars count in the message too (3 files of ~1 MiB fit, a 4th is refused)', async () => {
    const server = await startServer();
    const mib = (name: string) => entry(name, 'x'.repeat(1024 * 1024 - 100), 'FILE');
    await set(server, { app: 'web', set: [mib('a'), mib('b')] });
    await set(server, { app: '', set: [mib('g')] });
    const err = await rpcError(set(server, { app: '', set: [mib('h')] }));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/app web: the config message would be \d+ bytes encoded, over the 3145728/);
  });
});

describe('pending exec requests in the config message', () => {
  it('M2: an instance that has not opened its exec requests gets no more once they would push its config over 4 MiB', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web'); // a raw client: it never opens exec sessions
    // ~3 MiB of files: the most a config may weigh.
    const mib = (name: string) => entry(name, 'x'.repeat(1024 * 1024 - 100), 'FILE');
    await set(server, { app: 'web', set: [mib('a'), mib('b'), mib('c')] });
    await inst.config.waitForMessages(2);
    const exec = () =>
      new Promise<grpc.ServiceError>((resolve) => {
        const call = server.control().Exec(server.operator());
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write({ start: { instance_id: inst.id, args: ['echo', 'a'.repeat(250 * 1024)] } });
      });
    // Each request placed is pushed at once, listed in a new config message.
    for (let i = 1; i <= 3; i++) {
      void exec();
      await inst.config.waitForMessages(2 + i);
      expect(inst.config.messages[1 + i].config?.exec).toHaveLength(i);
    }
    const refused = await exec();
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/^instance \S+ already has \d+ bytes of exec requests waiting to open \(at most 786432 fit its config message\)/);
    expect(inst.config.messages).toHaveLength(5);
    expect(inst.config.error).toBeUndefined();
  });
});

describe('reserved names', () => {
  it('L4: __proto__, constructor and prototype are refused by the ctl (exit 2) and by the server (INVALID_ARGUMENT)', async () => {
    const server = await startServer();
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const r = await server.ctl(['config', 'set', '--app', 'shop', `${name}=polluted`]);
      expect(r.code, name).toBe(2);
      expect(r.stderr.toString()).toMatch(new RegExp(`env var name "${name}" is reserved`));
      const err = await rpcError(set(server, { app: 'shop', set: [entry(name, 'polluted')] }));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/is reserved/);
    }
    expect(await names(server, 'shop')).toEqual([]);
  });
});
