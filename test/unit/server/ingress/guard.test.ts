// The ingress shares its process with the gRPC listener: an unexpected error while handling one
// request or upgrade closes that connection, is logged, and the next request is served (the
// error: a tunnel broker that throws). A store that cannot answer (the database closed under the
// ingress: better-sqlite3 throws "The database connection is not open") is no such error: the
// request that needed it gets a 503 that says so.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb } from '../../../../src/server/store/sqlite/db.js';
import { type Ingress, listenIngress } from '../../../../src/server/ingress/ingress.js';
import { TrustedProxies } from '../../../../src/server/ingress/trusted.js';
import { InstanceRegistry } from '../../../../src/server/instances/registry.js';
import type { ServerLog } from '../../../../src/server/log.js';
import { SqliteStore } from '../../../../src/server/store/sqlite/store.js';
import { TunnelBroker } from '../../../../src/server/tunnel/broker.js';
import { withDeadline } from '../../../helpers/run.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

class BrokenBroker extends TunnelBroker {
  override newestLiveOfApp(): never {
    throw new Error('the broker broke');
  }
}

async function brokenIngress(broken: 'broker' | 'store'): Promise<{ ingress: Ingress; errors: string[]; port: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-ingress-guard-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDb(path.join(dir, 'state.db'));
  const store = new SqliteStore(db);
  const errors: string[] = [];
  const log: ServerLog = { debug() {}, info() {}, warn() {}, error: (m, f) => errors.push(`${m} ${JSON.stringify(f ?? {})}`) };
  const trusted = new TrustedProxies();
  const limits = { headerTimeoutMs: 5_000, keepAliveTimeoutMs: 5_000, maxConnections: 100, maxConnectionsPerClient: 100, trusted };
  const ingress = await listenIngress({ host: '127.0.0.1', port: 0, bind: '127.0.0.1:0' }, limits, log);
  cleanups.push(() => ingress.close());
  const settings = { domain: 'localhost', port: ingress.port, requestTimeoutMs: 5_000, maxConcurrent: 10, upgradeIdleTimeoutMs: 60_000, trusted };
  const Broker = broken === 'broker' ? BrokenBroker : TunnelBroker;
  ingress.serve({ broker: new Broker(new InstanceRegistry(), 10), store, settings, log });
  db.close();
  return { ingress, errors, port: ingress.port };
}

/** One request; resolves with its status, or with the error that ended its connection. */
function get(port: number, host: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { Host: host }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', (err) => resolve(err.message));
  });
}

/** An upgrade request on a raw socket; resolves with what came back before the close. */
function upgrade(port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    });
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
  });
}

describe('the ingress survives an unexpected error in a handler', () => {
  it('a request whose handling throws: that connection is closed and logged; the server answers the next one', async () => {
    const { errors, port } = await brokenIngress('broker');
    const first = await withDeadline(get(port, 'shop.localhost'), 5_000, 'the first request to end');
    expect(first).toBe('socket hang up');
    expect(errors.join('\n')).toMatch(/HTTP ingress: a request failed unexpectedly; its connection was closed .*the broker broke/);
    // A request that needs no database is still answered: the process and the listener live.
    expect(await withDeadline(get(port, 'not-an-app.example'), 5_000, 'the second request')).toBe(404);
  });

  it('an upgrade whose handling throws: that socket is closed and logged; the server answers the next request', async () => {
    const { errors, port } = await brokenIngress('broker');
    expect(await withDeadline(upgrade(port, 'shop.localhost'), 5_000, 'the upgrade socket to close')).toBe('');
    expect(errors.join('\n')).toMatch(/a request failed unexpectedly.*the broker broke/);
    expect(await withDeadline(get(port, 'not-an-app.example'), 5_000, 'the next request')).toBe(404);
  });

  it('a store that cannot answer: the request and the upgrade get a 503 that says so, nothing is logged as unexpected', async () => {
    const { errors, port } = await brokenIngress('store');
    expect(await withDeadline(get(port, 'shop.localhost'), 5_000, 'the request')).toBe(503);
    expect(await withDeadline(upgrade(port, 'shop.localhost'), 5_000, 'the upgrade socket to close')).toMatch(
      /^HTTP\/1\.1 503 [^]*the server cannot read its store: The database connection is not open/,
    );
    expect(errors).toEqual([]);
  });
});
