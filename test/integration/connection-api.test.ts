// The Connection API that later modules (logs, exec, url) build on, in-process against the fake
// server: sessions and their channel, metadata for their own calls, the session's end, the same
// instance across reconnects, close(), and sockets released after failed attempts.
import { closeSync, openSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, type Session, startConnection } from '../../src/connection/index.js';
import { Logger, type LogRecord } from '../../src/log.js';
import { grpc } from '../../src/protocol/load.js';
import { type FakeWaypoint, startFake } from '../helpers/fake-waypoint.js';
import { waitFor, withDeadline } from '../helpers/run.js';

const INVITE = 'invite-api-test';
const TOKEN = 'token-api-test';

const connections: Connection[] = [];
const fakes: FakeWaypoint[] = [];
const servers: Server[] = [];
const fds: number[] = [];

afterEach(async () => {
  for (const c of connections.splice(0)) c.close();
  for (const f of fakes.splice(0)) await f.stop();
  for (const s of servers.splice(0)) s.close();
  for (const fd of fds.splice(0)) closeSync(fd);
});

function connect(addr: string, options: { deadlineMs?: number; fastUntilMs?: number } = {}) {
  const records: LogRecord[] = [];
  const devNull = openSync('/dev/null', 'w');
  fds.push(devNull);
  const logger = new Logger('trace', devNull);
  logger.addSink((r) => records.push(r));
  const connection = startConnection({
    settings: {
      serverAddr: addr,
      serverTls: false,
      serverTlsSkipVerify: false,
      inviteToken: INVITE,
      deploymentId: 'D-API',
      disableExec: false,
    },
    logger,
    version: '9.9.9-test',
    fastUntil: performance.now() + (options.fastUntilMs ?? 0),
    deadlineMs: options.deadlineMs,
  });
  connections.push(connection);
  return { connection, records };
}

async function fake(script: Parameters<typeof startFake>[0] = {}): Promise<FakeWaypoint> {
  const f = await startFake({ invites: { [INVITE]: TOKEN }, ...script });
  fakes.push(f);
  return f;
}

/** A call of our own on the session's channel, as the logs module will make one. */
function logStreamCall(session: Session): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    const call = session.client.EntrypointLogStream(session.metadata(), (err) => resolve(err));
    call.end();
  });
}

describe('Connection', () => {
  it('resolves firstConfig and hands every session to its listeners, channel and metadata included', async () => {
    const f = await fake();
    const { connection } = connect(f.addr);
    const sessions: Session[] = [];
    connection.onSession((s) => sessions.push(s));
    const config = await withDeadline(connection.firstConfig, 5000, 'the first config');
    expect(config.env_vars).toEqual([expect.objectContaining({ name: 'FROM_FAKE', static: 'yes' })]);
    await waitFor(() => sessions.length === 1, { what: () => 'the session' });
    const session = sessions[0];
    expect(connection.session).toBe(session);
    expect(session.instanceId).toBe(connection.instanceId);
    expect(session.inlineKeepalives).toBe(true);
    expect(connection.inlineKeepalives).toBe(true);
    expect(session.protocolVersion).toBe(1);
    expect(session.serverVersion).toBe('fake-0.0.1');
    expect(session.signal.aborted).toBe(false);

    // Another stream on the same session: the token and version metadata go with it.
    const err = await logStreamCall(session);
    expect(err).toBeNull(); // the fake took the (empty) stream
    const logCall = f.calls.find((c) => c.method === 'EntrypointLogStream')!;
    expect(logCall.metadata).toMatchObject({ authorization: TOKEN, 'waypoint-token': TOKEN, 'client-version': '9.9.9-test' });

    // A late subscriber gets the live session at once.
    const late: Session[] = [];
    connection.onSession((s) => late.push(s));
    expect(late).toEqual([session]);
  });

  it('ends the session when the server goes, and opens a new one for the same instance', async () => {
    const f = await fake();
    const { connection } = connect(f.addr);
    const sessions: Session[] = [];
    connection.onSession((s) => sessions.push(s));
    await waitFor(() => sessions.length === 1, { what: () => 'the first session' });
    await f.stop();
    await waitFor(() => sessions[0].signal.aborted, { what: () => 'the session to end' });
    expect(connection.session).toBeUndefined();
    await f.start();
    await waitFor(() => sessions.length === 2, { timeoutMs: 10_000, what: () => 'the second session' });
    expect(sessions[1].instanceId).toBe(sessions[0].instanceId);
    expect(sessions[1].client).not.toBe(sessions[0].client); // a channel per session
    expect(f.openInstances()).toEqual([connection.instanceId]);
  });

  it('without FEATURE_INLINE_KEEPALIVES, our streams must not send keepalives', async () => {
    const f = await fake({ features: [] });
    const { connection } = connect(f.addr);
    await withDeadline(connection.firstConfig, 5000, 'the first config');
    expect(connection.inlineKeepalives).toBe(false);
  });

  it('passes each config to onConfig, in order; a malformed one is refused and logged', async () => {
    const f = await fake();
    const { connection, records } = connect(f.addr);
    const seen: string[][] = [];
    connection.onConfig((c) => seen.push(c.env_vars.map((v) => v.name)));
    await waitFor(() => seen.length === 1, { what: () => 'the first config' });
    f.push({ env_vars: [{ name: '', static: 'x' }] });
    f.push({ env_vars: [{ name: 'B', static: '2' }] });
    await waitFor(() => seen.length === 2, { what: () => 'the second config' });
    expect(seen).toEqual([['FROM_FAKE'], ['B']]);
    expect(records.find((r) => r.message.startsWith('config refused'))?.fields.problem).toBe('env var #0 has no name');
  });

  it('close() ends the registration and stops reconnecting', async () => {
    const f = await fake();
    const { connection } = connect(f.addr);
    await waitFor(() => f.openInstances().length === 1, { what: () => 'the registration' });
    connection.close();
    await waitFor(() => f.openInstances().length === 0, { what: () => 'the registration to end' });
    await withDeadline(connection.stopped, 2000, 'the loop to end');
  });

  it('close() while an attempt hangs gives it up at once', async () => {
    const f = await fake({ answer: false });
    const { connection } = connect(f.addr, { deadlineMs: 60_000 });
    await waitFor(() => f.calls.length === 1, { what: () => 'the hanging call' });
    connection.close();
    await withDeadline(connection.stopped, 2000, 'the loop to end');
    expect(connection.session).toBeUndefined();
  });

  it('a silent peer: each failed attempt releases its socket (no pile-up of half-open connections)', async () => {
    const open = new Set<Socket>();
    let accepted = 0;
    const peer = createServer((socket) => {
      accepted++;
      open.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => open.delete(socket));
      socket.resume(); // read (and ignore) the client preface, so its FIN is seen
    });
    servers.push(peer);
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const { connection } = connect(`127.0.0.1:${(peer.address() as { port: number }).port}`, { deadlineMs: 200 });
    await waitFor(() => accepted >= 4, { timeoutMs: 15_000, what: () => 'four attempts' });
    // Each socket goes a grace period after its attempt failed; never more than two at once.
    expect(open.size).toBeLessThanOrEqual(2);
    connection.close();
    await waitFor(() => open.size === 0, { timeoutMs: 5000, what: () => 'every socket closed' });
  });
});
