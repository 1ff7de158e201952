// `waypoint-ctl dev -- <command...>`: everything a newcomer needs in one command. A server in
// this process on a fresh temp data dir, an app and a deployment, and the command run under the
// entrypoint connected to it. The ctl commands to inspect it are printed with a context file of
// their own (WAYPOINT_CTL_CONTEXT), so the user's real context file is never touched. Our lines
// go to stderr: stdout is the app's.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Command } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isatty } from 'node:tty';
import { writeLine } from '../../log.js';
import { ListenError, localAddress, parseListen } from '../../rules/listen.js';
import { APP_NAME } from '../../rules/names.js';
import { CONTEXT_ENV, writeContext } from '../context.js';
import { CtlError, UsageError } from '../errors.js';
import { pinoServerLog } from '../log.js';
import { commandLine } from '../output.js';
import { type ConsoleFlags, consoleOptions, httpListenOption, httpOptions, withConsoleOptions } from './http-options.js';
import { collectLabel } from './options.js';
import { ctlInvocation, entrypointPath } from './self.js';

declare const __VERSION__: string;

const PREFIX = 'waypoint-ctl dev: ';

interface DevOptions extends ConsoleFlags {
  listen: string;
  httpListen: string;
  app?: string;
  label?: Record<string, string>;
}

export function devCommand(program: Command): void {
  const dev = program
    .command('dev')
    .description('run <command> under the entrypoint, connected to a throwaway server started here')
    .usage('[options] -- <command> [args...]')
    .argument('<command...>', 'the app to run, and its arguments')
    .option('--listen <host:port>', 'where the throwaway server listens', '127.0.0.1:9701')
    .addOption(httpListenOption())
    .option('--app <name>', 'the app name (default: the name of the current directory)')
    .option('-l, --label <key=value>', 'a label of the deployment (repeatable)', collectLabel);
  withConsoleOptions(dev)
    .passThroughOptions()
    .action(async (command: string[], opts: DevOptions) => {
      process.exitCode = await runDev(command, opts);
    });
}

async function runDev(command: string[], opts: DevOptions): Promise<number> {
  let listen;
  try {
    listen = parseListen(opts.listen);
  } catch (err) {
    throw new UsageError((err as ListenError).message);
  }
  const http = httpOptions({ httpListen: opts.httpListen });
  const webConsole = consoleOptions(opts, http);
  const app = opts.app ?? appNameFrom(process.cwd());
  if (!APP_NAME.test(app)) throw new UsageError(`invalid app name ${JSON.stringify(app)}: use letters, digits, '.', '_' or '-'`);

  // The server's info lines (instances coming and going) start after our instructions. They are
  // for the person at this terminal, among the app's own lines: pino-pretty on one line with our
  // prefix, no time, pid or host (a throwaway server's log is not shipped anywhere), secrets
  // redacted as in `server run`.
  const log = pinoServerLog({ prefix: PREFIX, level: 'info', format: 'pretty', brief: true });
  let started = false;
  const devLog = { ...log, info: (...args: Parameters<typeof log.info>) => started && log.info(...args) };

  const signals = new SignalRelay();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'waypoint-dev-'));
  try {
    const { startServer } = await import('../../server/server.js');
    const server = await startServer({
      listen: listen.bind,
      dataDir: path.join(tmp, 'data'),
      http,
      console: webConsole,
      version: __VERSION__,
      log: devLog,
    }).catch((err: Error) => {
      throw new CtlError(`${err.message}${/in use/.test(err.message) ? ' (e.g. --listen 127.0.0.1:0)' : ''}`);
    });
    try {
      const addr = localAddress(listen.host, Number(server.address.slice(server.address.lastIndexOf(':') + 1)));
      const { deployment, inviteToken } = server.createDeployment(app, opts.label ?? {});
      const contextFile = path.join(tmp, 'context.json');
      writeContext(contextFile, { server_addr: addr, token: server.operatorToken });
      const url = server.urls?.appUrl(app);
      printInstructions({ addr, tmp, app, deploymentId: deployment.id, contextFile, token: server.operatorToken, command, url, consoleUrl: server.consoleUrl });
      started = true;
      return await runEntrypoint(command, {
        WAYPOINT_SERVER_ADDR: addr,
        WAYPOINT_DEPLOYMENT_ID: deployment.id,
        WAYPOINT_CEB_INVITE_TOKEN: inviteToken,
      }, signals);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    signals.dispose();
  }
}

/** The cwd's name as an app name: lower case, anything unusual turned into '-'. */
export function appNameFrom(dir: string): string {
  const name = path
    .basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 63);
  return name || 'app';
}

interface Instructions {
  addr: string;
  tmp: string;
  app: string;
  deploymentId: string;
  contextFile: string;
  token: string;
  command: string[];
  /** The app's URL; undefined with --http-listen off. */
  url?: string;
  /** The web console's address; undefined when it is off. */
  consoleUrl?: string;
}

function printInstructions(i: Instructions): void {
  const ctl = ctlInvocation();
  const lines = [
    `server listening on ${i.addr}, state in ${i.tmp} (removed on exit)`,
    `app ${i.app}, deployment ${i.deploymentId}`,
    ...(i.url ? [`app URL ${i.url} (to the app on 127.0.0.1:$PORT, through its entrypoint)`] : []),
    ...(i.consoleUrl ? [`console: ${i.consoleUrl} (sign in with the operator token ${i.token})`] : []),
    'inspect it from another terminal:',
    `    export ${CONTEXT_ENV}=${i.contextFile}`,
    `    ${ctl} instances`,
    `    ${ctl} deployment list`,
    ...(i.url ? [`    ${ctl} url    # the URLs, and how many instances serve each`] : []),
    `    ${ctl} logs -f --app ${i.app}`,
    `    ${ctl} exec --app ${i.app} -- sh    # a shell beside the app`,
    `    ${ctl} config set --app ${i.app} KEY=VALUE    # restarts the app with it`,
    `    ${ctl} deployment create ${i.app}    # the env of another instance`,
    `  or with flags: ${ctl} instances --server-addr ${i.addr} --token ${i.token}`,
    `running ${commandLine(i.command)} (Ctrl-C stops it and the server)`,
  ];
  writeLine(2, lines.map((l) => `${PREFIX}${l}\n`).join(''));
}

/**
 * SIGINT/SIGTERM, from the very start: before the app runs, a signal cancels the run (and the
 * clean-up still happens); once it runs, signals go to its entrypoint, which stops it.
 */
class SignalRelay {
  private child?: ChildProcess;
  /** The first stop signal received, if any. */
  received?: NodeJS.Signals;

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  attach(child: ChildProcess): void {
    this.child = child;
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.received ??= signal;
    // Ctrl-C on a terminal already reached the entrypoint: it is in our process group.
    if (signal === 'SIGINT' && isatty(0)) return;
    this.child?.kill(signal);
  };
}

/** Runs the command under our entrypoint; resolves with its exit status (128+N for signal N). */
function runEntrypoint(command: string[], env: Record<string, string>, signals: SignalRelay): Promise<number> {
  if (signals.received) return Promise.resolve(exitStatus(null, signals.received));
  const child = spawn(entrypointPath(), ['--', ...command], { stdio: 'inherit', env: { ...process.env, ...env } });
  signals.attach(child);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new CtlError(`cannot start the entrypoint ${entrypointPath()}: ${err.message}`)));
    child.once('exit', (code, signal) => resolve(exitStatus(code, signal)));
  });
}

function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? os.constants.signals[signal] : 0);
}
