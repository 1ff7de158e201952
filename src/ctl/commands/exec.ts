// `waypoint-ctl exec`: a command (or a shell) inside a live instance, through the server; and
// `waypoint-ctl exec-history`: the sessions the server recorded.
import { type Command, InvalidArgumentError } from 'commander';
import { isatty } from 'node:tty';
import type { ExecSession__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecSession.js';
import { fromTimestamp } from '../../protocol/timestamp.js';
import { APP_NAME } from '../../rules/names.js';
import { connect, type ControlApi } from '../client.js';
import { CtlError, UsageError } from '../errors.js';
import { runExec } from '../exec-run.js';
import { commandLine, formatTime, isoTime, printJson, printTable } from '../output.js';
import { resolveTarget } from '../target.js';
import { connectionFlags, withConnectionOptions } from './options.js';

const DEFAULT_TERM = 'xterm-256color';

interface ExecOptions {
  app?: string;
  instance?: string;
  tty?: boolean;
  term?: string;
}

export function execCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('exec')
      .description('run a command inside a live instance (one of the app\'s, or the one named), with a terminal when stdin is one')
      .usage('[--app A | --instance I] [-t | -T] [options] -- <command> [args...]')
      .argument('<command...>', 'the command and its arguments, looked up on the instance\'s PATH')
      .option('--app <app>', "one of this app's instances (the newest deployment's, least busy first); default: the only app connected")
      .option('--instance <id>', 'this instance')
      .option('-t, --tty', 'a terminal for the command (the default when our stdin is a terminal)')
      .option('-T, --no-tty', 'plain pipes: stdout and stderr kept apart')
      .option('--term <term>', `TERM for the terminal (default: our $TERM, else ${DEFAULT_TERM})`)
      .passThroughOptions()
      .addHelpText(
        'after',
        `
On a terminal, ~. at the start of a line closes the session (exit status 255); ~~ sends one ~.
Exit status: the command's (128+N when signal N ended it); 127 not found, 126 not executable;
1 when the session could not start or broke, with one line on stderr.`,
      ),
  ).action(async (args: string[], opts: ExecOptions & Record<string, unknown>) => {
    if (opts.app !== undefined && opts.instance !== undefined) throw new UsageError('--app and --instance do not mix: give one of them');
    if (opts.app !== undefined && !APP_NAME.test(opts.app)) throw new UsageError(`invalid app name ${JSON.stringify(opts.app)}`);
    if (opts.instance === '') throw new UsageError('--instance needs an instance id');
    if (args.length === 0 || args[0] === '') throw new UsageError('give the command to run after --');
    const tty = opts.tty ?? isatty(0);
    const term = opts.term ?? (process.env.TERM || DEFAULT_TERM);
    const target = resolveTarget(connectionFlags(opts));
    const api = connect(target);
    try {
      const app = opts.app ?? (opts.instance === undefined ? await onlyApp(api) : undefined);
      process.exitCode = await runExec(api, target, { app, instanceId: opts.instance, args, tty, term });
    } finally {
      api.close();
    }
  });
}

/** Without --app or --instance: the app whose instances are connected, when there is one. */
async function onlyApp(api: ControlApi): Promise<string> {
  const apps = [...new Set((await api.listInstances()).instances.map((i) => i.app))].sort();
  if (apps.length === 1) return apps[0];
  if (apps.length === 0) throw new CtlError('no instance is connected to the server: nothing to run the command in');
  throw new UsageError(`instances of several apps are connected (${apps.join(', ')}): give --app <app> or --instance <id>`);
}

export function execHistoryCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('exec-history')
      .description('list the exec sessions the server recorded, newest first')
      .option('--app <app>', "only this app's sessions")
      .option('--instance <id>', "only this instance's sessions")
      .option('--limit <n>', 'at most this many', positiveInt, 100)
      .option('--json', 'print JSON'),
  ).action(async (opts: { app?: string; instance?: string; limit: number; json?: boolean } & Record<string, unknown>) => {
    const api = connect(resolveTarget(connectionFlags(opts)));
    try {
      const { sessions } = await api.listExecSessions({ app: opts.app ?? '', instance_id: opts.instance ?? '', limit: opts.limit });
      if (opts.json) printJson(sessions.map(sessionJson));
      else {
        printTable(
          ['ID', 'STARTED', 'DURATION', 'INSTANCE', 'APP', 'TTY', 'STATE/EXIT', 'WHO', 'COMMAND'],
          sessions.map((s) => [
            s.id,
            formatTime(fromTimestamp(s.started_at)),
            duration(s),
            s.instance_id,
            s.app,
            s.tty ? 'yes' : 'no',
            stateText(s),
            who(s),
            commandLine(s.args),
          ]),
          'no exec sessions recorded',
        );
      }
    } finally {
      api.close();
    }
  });
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

function duration(s: ExecSession__Output): string {
  const start = fromTimestamp(s.started_at);
  const end = fromTimestamp(s.ended_at);
  if (start === undefined || end === undefined) return '-';
  const ms = end - start;
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return m < 60 ? `${m}m${Math.floor((ms % 60_000) / 1000)}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

function stateText(s: ExecSession__Output): string {
  if (s.state === 'EXITED') return `exited ${s.exit_code}`;
  if (s.state === 'FAILED') return s.error ? `failed: ${s.error}` : 'failed';
  return s.state.toLowerCase();
}

/** The operator: its token id, and where it called from (host only: the port says nothing). */
function who(s: ExecSession__Output): string {
  const host = s.operator_address.replace(/:\d+$/, '');
  return host ? `${s.operator_token_id}@${host}` : s.operator_token_id;
}

function sessionJson(s: ExecSession__Output) {
  return {
    id: Number(s.id),
    app: s.app,
    deployment_id: s.deployment_id,
    instance_id: s.instance_id,
    args: s.args,
    tty: s.tty,
    operator_token_id: s.operator_token_id,
    operator_address: s.operator_address,
    started_at: isoTime(fromTimestamp(s.started_at)),
    ended_at: isoTime(fromTimestamp(s.ended_at)),
    state: s.state,
    exit_code: s.state === 'RUNNING' || (s.state === 'FAILED' && s.exit_code === 0) ? null : s.exit_code,
    error: s.error || null,
  };
}
