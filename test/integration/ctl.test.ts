// `waypoint-ctl` as a user runs it: server run and its context file, deployment create/list,
// instances, where the ctl finds its server (flags > env > context), one-line errors and exit
// codes, TLS, and `dev`.
import { existsSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ulid } from '../../src/ids.js';
import { convertInviteToken, grpc, md, openConfig, waypointClient } from '../helpers/grpc.js';
import { cleanEnv, killAll, ROOT, run, start, waitFor, withDeadline } from '../helpers/run.js';
import { CTL, freePort, readContextFile, startServer, stopServers, type TestServer } from '../helpers/server.js';

const clients: grpc.Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await stopServers();
  killAll();
});

/** Runs the ctl to completion with the server's environment (its context file) plus `env`. */
function ctl(server: TestServer | undefined, args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(args, { bin: CTL, env: server ? server.env(env) : cleanEnv(env) });
}

/** stderr of a failed command: exactly one line, prefixed with the program's name. */
function oneLine(stderr: Buffer): string {
  const text = stderr.toString();
  expect(text).toMatch(/^waypoint-ctl: [^\n]+\n$/);
  return text;
}

function envLines(stdout: Buffer): Record<string, string> {
  return Object.fromEntries(
    stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('server run', () => {
  it('prints where it listens, its data dir and (on first start) the operator token; writes a 0600 context file', async () => {
    const server = await startServer();
    const out = server.proc.stdout().toString();
    expect(out).toMatch(new RegExp(`^listening on ${server.addr} \\(gRPC, plaintext\\)$`, 'm'));
    expect(out).toMatch(new RegExp(`^data dir ${server.dataDir}$`, 'm'));
    expect(out).toMatch(/^operator token wp1\.\S+ \(shown on first start only\)$/m);
    expect(statSync(server.contextFile).mode & 0o777).toBe(0o600);
    expect(readContextFile(server)).toEqual({ server_addr: server.addr, token: server.operatorToken });
  });

  it('stops cleanly on SIGTERM', async () => {
    const server = await startServer();
    const exit = await server.stop({ signal: 'SIGTERM' });
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('refuses bad options as usage errors (exit 2)', async () => {
    for (const args of [
      ['server', 'run', '--listen', 'nowhere'],
      ['server', 'run', '--tls-cert', 'cert.pem'],
      ['server', 'run', '--inline-keepalive-interval', 'soon'],
    ]) {
      const r = await ctl(undefined, args);
      expect(r.code, args.join(' ')).toBe(2);
      oneLine(r.stderr);
    }
  });
});

describe('deployment create', () => {
  it('prints the env lines an instance needs, and their invite works', async () => {
    const server = await startServer();
    const r = await ctl(server, ['deployment', 'create', 'web', '--label', 'env=prod', '-l', 'team=a=b']);
    expect(r.code).toBe(0);
    const env = envLines(r.stdout);
    expect(Object.keys(env)).toEqual(['WAYPOINT_SERVER_ADDR', 'WAYPOINT_DEPLOYMENT_ID', 'WAYPOINT_CEB_INVITE_TOKEN']);
    expect(env.WAYPOINT_SERVER_ADDR).toBe(server.addr);
    expect(env.WAYPOINT_DEPLOYMENT_ID).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const wp = waypointClient(server.addr);
    clients.push(wp);
    expect((await convertInviteToken(wp, env.WAYPOINT_CEB_INVITE_TOKEN)).token).toMatch(/^wp1\./);

    const list = await ctl(server, ['deployment', 'list', '--json']);
    expect(JSON.parse(list.stdout.toString())).toEqual([
      { id: env.WAYPOINT_DEPLOYMENT_ID, app: 'web', labels: { env: 'prod', team: 'a=b' }, created_at: expect.any(String) },
    ]);
  });

  it('has --json', async () => {
    const server = await startServer();
    const r = await ctl(server, ['deployment', 'create', 'api', '--json']);
    const json = JSON.parse(r.stdout.toString());
    expect(json).toMatchObject({ deployment: { app: 'api', labels: {} }, invite_token: expect.stringMatching(/^wp1\./) });
    expect(json.env).toEqual({
      WAYPOINT_SERVER_ADDR: server.addr,
      WAYPOINT_DEPLOYMENT_ID: json.deployment.id,
      WAYPOINT_CEB_INVITE_TOKEN: json.invite_token,
    });
  });

  it('refuses a malformed label (exit 2) and a bad app name (exit 1), in one line', async () => {
    const server = await startServer();
    const label = await ctl(server, ['deployment', 'create', 'web', '--label', 'novalue']);
    expect(label.code).toBe(2);
    expect(label.stderr.toString()).toMatch(/expected key=value/);
    const name = await ctl(server, ['deployment', 'create', 'no spaces']);
    expect(name.code).toBe(1);
    expect(oneLine(name.stderr)).toMatch(/invalid app name/);
  });
});

describe('deployment list', () => {
  it('shows a table, filters by app, and survives a server restart', async () => {
    const server = await startServer();
    const a = await server.createDeployment('alpha', { tier: 'web' });
    const b = await server.createDeployment('beta');
    await server.restart();
    const table = (await ctl(server, ['deployment', 'list'])).stdout.toString().trim().split('\n');
    expect(table[0]).toMatch(/^DEPLOYMENT\s+APP\s+LABELS\s+CREATED$/);
    expect(table.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [a.deploymentId, 'alpha', 'tier=web'],
      [b.deploymentId, 'beta', '-'],
    ]);
    const beta = JSON.parse((await ctl(server, ['deployment', 'list', '--app', 'beta', '--json'])).stdout.toString());
    expect(beta.map((d: { id: string }) => d.id)).toEqual([b.deploymentId]);
    expect((await ctl(server, ['deployment', 'list', '--app', 'gamma'])).stdout.toString()).toBe('no deployments\n');
  });
});

describe('instances', () => {
  it('--json shows a registered instance and drops it when its stream ends', async () => {
    const server = await startServer();
    const { deploymentId, inviteToken } = await server.createDeployment('shop');
    const wp = waypointClient(server.addr);
    clients.push(wp);
    const { token } = await convertInviteToken(wp, inviteToken);
    const id = ulid();
    const stream = openConfig(wp, { deployment_id: deploymentId, instance_id: id, type: 'LONG_RUNNING' }, md({ token }));
    await stream.waitForMessages(1);

    const listed = JSON.parse((await ctl(server, ['instances', '--json'])).stdout.toString());
    expect(listed).toEqual([
      {
        id,
        deployment_id: deploymentId,
        app: 'shop',
        type: 'LONG_RUNNING',
        exec_disabled: false,
        connected_since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        remote_address: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
        log_lines_received: 0,
        // A raw client reports no state.
        state: null,
        state_message: '',
        state_since: null,
      },
    ]);
    const table = (await ctl(server, ['instances'])).stdout.toString();
    expect(table).toMatch(/^INSTANCE\s+APP\s+DEPLOYMENT\s+TYPE\s+EXEC\s+STATE\s+CONNECTED\s+LINES\s+REMOTE\s+MESSAGE\n/);
    expect(table).toContain(id);
    expect(JSON.parse((await ctl(server, ['instances', '--app', 'other', '--json'])).stdout.toString())).toEqual([]);

    stream.cancel();
    await waitFor(async () => (await ctl(server, ['instances', '--json'])).stdout.toString().trim() === '[]', {
      what: () => 'the instance to leave the list',
    });
    expect((await ctl(server, ['instances'])).stdout.toString()).toBe('no instances connected\n');
  });
});

describe('finding the server', () => {
  it('takes flags over env over the context file', async () => {
    const [a, b] = [await startServer(), await startServer()];
    await a.createDeployment('on-a');
    await b.createDeployment('on-b');
    const apps = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = await ctl(a, ['deployment', 'list', '--json', ...args], env); // a's context file
      expect(r.code, r.stderr.toString()).toBe(0);
      return JSON.parse(r.stdout.toString()).map((d: { app: string }) => d.app);
    };
    const envB = { WAYPOINT_SERVER_ADDR: b.addr, WAYPOINT_TOKEN: b.operatorToken };
    expect(await apps([])).toEqual(['on-a']);
    expect(await apps([], envB)).toEqual(['on-b']);
    expect(await apps(['--server-addr', a.addr, '--token', a.operatorToken], envB)).toEqual(['on-a']);
    // A flag naming the context's own server still gets the context's token.
    expect(await apps(['--server-addr', a.addr])).toEqual(['on-a']);
  });

  it('reads another context file from WAYPOINT_CTL_CONTEXT', async () => {
    const [a, b] = [await startServer(), await startServer()];
    await b.createDeployment('on-b');
    const r = await ctl(a, ['deployment', 'list', '--json'], { WAYPOINT_CTL_CONTEXT: b.contextFile });
    expect(JSON.parse(r.stdout.toString()).map((d: { app: string }) => d.app)).toEqual(['on-b']);
  });
});

describe('errors', () => {
  it('server down: one line, exit 1', async () => {
    const port = await freePort();
    const r = await ctl(undefined, ['instances', '--server-addr', `127.0.0.1:${port}`, '--token', 'x']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`cannot reach the server at 127\\.0\\.0\\.1:${port}.*server run`));
  });

  it('bad or entrypoint token: one line, exit 1', async () => {
    const server = await startServer();
    const bad = await ctl(server, ['instances'], { WAYPOINT_TOKEN: 'garbage' });
    expect(bad.code).toBe(1);
    expect(oneLine(bad.stderr)).toMatch(/refused the token: invalid token/);

    const { inviteToken } = await server.createDeployment('web');
    const wp = waypointClient(server.addr);
    clients.push(wp);
    const { token } = await convertInviteToken(wp, inviteToken);
    const denied = await ctl(server, ['deployment', 'list'], { WAYPOINT_TOKEN: token });
    expect(denied.code).toBe(1);
    expect(oneLine(denied.stderr)).toMatch(/denied the call: .*operator token/);
  });

  it('no server configured: says how to configure one', async () => {
    const r = await ctl(undefined, ['instances'], { XDG_CONFIG_HOME: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/no server to talk to: pass --server-addr/);
  });

  it('usage errors exit 2', async () => {
    for (const args of [['bogus'], ['instances', '--nope'], ['instances', '--server-addr', 'no-port', '--token', 't'], ['dev']]) {
      const r = await ctl(undefined, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.toString()).not.toMatch(/\n\s+at /); // never a stack trace
    }
  });
});

describe('TLS', () => {
  it('works with --tls-ca-file, fails clearly without it, and through the context file', async () => {
    const server = await startServer({ tls: true });
    expect(readContextFile(server)).toEqual({ server_addr: server.addr, token: server.operatorToken, tls: { ca_file: server.tls!.caFile } });
    const flags = ['--server-addr', server.addr, '--token', server.operatorToken];
    const outside = cleanEnv(); // no context file: flags only

    const trusted = await run(['instances', ...flags, '--tls-ca-file', server.tls!.caFile], { bin: CTL, env: outside });
    expect(trusted.code, trusted.stderr.toString()).toBe(0);
    expect(trusted.stderr.toString()).toBe('');

    const untrusted = await run(['instances', ...flags, '--tls'], { bin: CTL, env: outside });
    expect(untrusted.code).toBe(1);
    expect(oneLine(untrusted.stderr)).toMatch(/TLS with the server at .* failed: .*certificate.*--tls-ca-file/);

    const skip = await run(['instances', ...flags, '--tls-skip-verify'], { bin: CTL, env: outside });
    expect(skip.code, skip.stderr.toString()).toBe(0);

    const plaintext = await run(['instances', ...flags], { bin: CTL, env: outside });
    expect(plaintext.code).toBe(1);
    oneLine(plaintext.stderr);

    const viaContext = await ctl(server, ['deployment', 'create', 'secure']);
    expect(viaContext.code, viaContext.stderr.toString()).toBe(0);
    expect(envLines(viaContext.stdout)).toMatchObject({ WAYPOINT_SERVER_TLS: 'true', WAYPOINT_SERVER_TLS_CA_FILE: server.tls!.caFile });
  });
});

describe('dev', () => {
  it('runs the command under the entrypoint, prints the instructions, exits with its code and cleans up', async () => {
    const r = await run(['dev', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--app', 'demo', '--', 'sh', '-c', 'echo "deployment=$WAYPOINT_DEPLOYMENT_ID"; exit 7'], {
      bin: CTL,
      env: cleanEnv(),
    });
    const err = r.stderr.toString();
    expect(r.code, err).toBe(7);
    const context = /export WAYPOINT_CTL_CONTEXT=(\S+)/.exec(err)?.[1];
    expect(context).toMatch(/waypoint-dev-[^/]+\/context\.json$/);
    expect(existsSync(context!)).toBe(false); // removed with its temp dir
    expect(existsSync(context!.replace(/\/context\.json$/, ''))).toBe(false);
    const deployment = /app demo, deployment (\S+)/.exec(err)?.[1];
    expect(r.stdout.toString()).toBe(`deployment=${deployment}\n`);
    expect(err).toMatch(/bin\/waypoint-ctl instances\n/);
    expect(err).toMatch(/bin\/waypoint-ctl logs -f --app demo\n/);
    expect(err).toMatch(/bin\/waypoint-ctl exec --app demo -- sh /);
    expect(err).toMatch(/bin\/waypoint-ctl config set --app demo KEY=VALUE/);
    expect(err).toMatch(/--server-addr 127\.0\.0\.1:\d+ --token wp1\./);
    expect(err).toMatch(/app URL http:\/\/demo\.localhost:\d+\/ /);
    expect(err).toMatch(/bin\/waypoint-ctl url /);
    expect(err).toMatch(/console: http:\/\/localhost:\d+\/ \(sign in with the operator token wp1\./);
  });

  it('prints no console with --console off, and refuses another value', async () => {
    const off = await run(['dev', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--console', 'off', '--', 'true'], { bin: CTL, env: cleanEnv() });
    expect(off.code, off.stderr.toString()).toBe(0);
    expect(off.stderr.toString()).not.toMatch(/console:/);
    const bad = await run(['dev', '--console', 'maybe', '--', 'true'], { bin: CTL, env: cleanEnv() });
    expect(bad.code).toBe(2);
    expect(bad.stderr.toString()).toMatch(/--console must be on or off/);
  });

  it('prints the app\'s URL, where the app answers through its entrypoint', async () => {
    const p = start(['dev', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--app', 'hello', '--', 'node', path.join(ROOT, 'examples/hello/server.js')], {
      bin: CTL,
      env: cleanEnv({ PORT: String(await freePort()) }),
    });
    await p.waitForOutput(/app URL http:\/\/hello\.localhost:\d+\//, { stream: 'stderr' });
    const port = Number(/app URL http:\/\/hello\.localhost:(\d+)\//.exec(p.stderr().toString())![1]);
    const get = () =>
      new Promise<{ status: number; body: string }>((resolve) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', headers: { Host: `hello.localhost:${port}` }, agent: false }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          })
          .on('error', () => resolve({ status: 0, body: '' }));
      });
    await waitFor(async () => (await get()).status === 200, { what: () => 'the app to answer at its URL' });
    expect((await get()).body).toMatch(/^hello from \w+ \(request #\d+\)\n$/);
    p.proc.kill('SIGTERM');
    await withDeadline(p.exited, 10_000, 'dev to exit');
  });

  it('forwards SIGTERM to the app, and still cleans up', async () => {
    const p = start(['dev', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--', 'sh', '-c', 'trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.05; done'], {
      bin: CTL,
      env: cleanEnv(),
    });
    await p.waitForOutput('ready');
    const context = /export WAYPOINT_CTL_CONTEXT=(\S+)/.exec(p.stderr().toString())![1];
    expect(existsSync(context)).toBe(true);
    p.proc.kill('SIGTERM');
    const exit = await withDeadline(p.exited, 10_000, 'dev to exit');
    expect(exit.code).toBe(3);
    expect(p.stdout().toString()).toContain('got TERM');
    expect(existsSync(context)).toBe(false);
  });

  it('connects the app: the printed command lists its instance, which goes when the app exits', async () => {
    const p = start(['dev', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--app', 'demo', '--', 'sh', '-c', 'echo ready; read line; exit 0'], {
      bin: CTL,
      env: cleanEnv(),
    });
    await p.waitForOutput('ready');
    const context = /export WAYPOINT_CTL_CONTEXT=(\S+)/.exec(p.stderr().toString())![1];
    const instances = async () =>
      JSON.parse((await ctl(undefined, ['instances', '--json'], { WAYPOINT_CTL_CONTEXT: context })).stdout.toString());
    await waitFor(async () => (await instances()).length === 1, { what: () => 'the instance to be listed' });
    expect((await instances())[0]).toMatchObject({ app: 'demo', type: 'LONG_RUNNING', exec_disabled: false });
    p.proc.stdin!.end('go\n');
    expect((await withDeadline(p.exited, 10_000, 'dev to exit')).code).toBe(0);
    expect(p.stderr().toString()).toMatch(/instance gone/);
  });

  it('names the app after the current directory by default', async () => {
    const r = await run(['dev', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--', 'true'], { bin: CTL, env: cleanEnv(), cwd: '/tmp' });
    expect(r.code).toBe(0);
    expect(r.stderr.toString()).toMatch(/app tmp, deployment/);
  });
});
