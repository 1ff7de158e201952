// `waypoint-ctl config set|get|unset|file-signal` (and `config source`, `config status`:
// config-dynamic.ts): app configuration. Each command is one change
// on the server, pushed at once to the connected instances whose config it changes.
import { type Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import type { ConfigEntry__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ConfigEntry.js';
import { fromTimestamp } from '../../protocol/timestamp.js';
import { parseSignalName } from '../../rules/config.js';
import { APP_NAME } from '../../rules/names.js';
import { connect, type ControlApi } from '../client.js';
import { parseDynamicArgs, parseSetArgs, parseUnsetNames } from '../config-args.js';
import { configDynamicCommands, settingsText } from './config-dynamic.js';
import { CtlError, UsageError } from '../errors.js';
import { isoTime, printJson, printLines, printTable } from '../output.js';
import { resolveTarget } from '../target.js';
import { connectionFlags, withConnectionOptions } from './options.js';

const KIND = { STATIC: 'static', INTERNAL: 'internal', FILE: 'file' } as const;
const WIRE_KIND = { static: 'STATIC', internal: 'INTERNAL', file: 'FILE' } as const;

export function configCommand(program: Command): void {
  const config = program
    .command('config')
    .description('set, show and remove app configuration (env vars, internal vars, files, dynamic vars and their sources)');

  withConnectionOptions(
    config
      .command('set')
      .description('set vars (global, or of --app); all at once, in one push to the instances')
      .argument('[KEY=VALUE...]', 'env vars; with --internal, internal vars (only for ${config.internal.KEY}); with --dynamic: NAME KEY=VALUE...')
      .option('--app <app>', 'of this app (default: global, every app)')
      .option('--internal', 'the KEY=VALUE vars are internal: never env vars themselves')
      .option('--file <PATH=@LOCALFILE>', 'a file var: PATH gets LOCALFILE\'s content (PATH=TEXT: TEXT itself); repeatable', collect)
      .option('--dynamic <type>', 'one dynamic var NAME, read by each instance from a source of this type (null, vault, kubernetes, consul, aws-ssm) with the KEY=VALUE settings that follow')
      .option('--path', 'with --dynamic: NAME is a file path (a file var)'),
  ).action(async (assignments: string[], opts: Record<string, unknown>) => {
    const app = appOf(opts);
    if (opts.dynamic !== undefined) {
      if (opts.file !== undefined) throw new UsageError('--dynamic sets one var: give --file vars in a call of their own');
      const v = parseDynamicArgs({ type: opts.dynamic as string, args: assignments, internal: opts.internal === true, path: opts.path === true });
      const set = [{ name: v.name, kind: WIRE_KIND[v.kind], dynamic: { from: v.from, config: v.config } }];
      const res = await withApi(opts, (api) => api.setConfig({ app, set }));
      printLines([`set ${v.name} (dynamic, from ${v.from}) ${scope(app)}; ${updated(res.instances_notified)}`]);
      return;
    }
    if (opts.path === true) throw new UsageError('--path goes with --dynamic');
    const vars = parseSetArgs({ assignments, files: (opts.file as string[] | undefined) ?? [], internal: opts.internal === true }, readLocal);
    const set = vars.map((v) => ({ name: v.name, kind: WIRE_KIND[v.kind], value: v.value }));
    const res = await withApi(opts, (api) => api.setConfig({ app, set }));
    printLines([`set ${vars.map((v) => v.name).join(', ')} ${scope(app)}; ${updated(res.instances_notified)}`]);
  });

  withConnectionOptions(
    config
      .command('get')
      .description('show the vars that reach an app (its own and the global ones), or the global vars')
      .option('--app <app>', 'of this app (default: the global vars)')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const app = appOf(opts);
    const res = await withApi(opts, (api) => api.getConfig(app));
    if (opts.json) {
      printJson({ app: app || null, file_change_signal: res.file_change_signal || null, vars: res.vars.map(varJson) });
      return;
    }
    printTable(
      ['NAME', 'SCOPE', 'KIND', 'VALUE'],
      res.vars.map((v) => [v.name, v.app ? 'app' : v.overridden ? 'global (overridden)' : 'global', KIND[v.kind], shownValue(v)]),
      app ? `no config vars reach app ${app}` : 'no global config vars',
    );
    if (app) printLines([`file change signal: ${res.file_change_signal || 'none'}`]);
  });

  withConnectionOptions(
    config
      .command('unset')
      .description('remove vars (global, or of --app); all at once, in one push to the instances')
      .argument('<NAME...>', 'env var names or file paths')
      .option('--app <app>', 'of this app (default: global)'),
  ).action(async (names: string[], opts: Record<string, unknown>) => {
    const app = appOf(opts);
    const unset = parseUnsetNames(names);
    const res = await withApi(opts, (api) => api.setConfig({ app, unset }));
    printLines([`unset ${unset.join(', ')} ${scope(app)}; ${updated(res.instances_notified)}`]);
  });

  withConnectionOptions(
    config
      .command('file-signal')
      .description("the signal an app's instances send it after writing changed config files")
      .argument('[SIGNAL]', 'e.g. SIGUSR2 (or USR2)')
      .addOption(new Option('--app <app>', 'the app').makeOptionMandatory())
      .option('--clear', 'send no signal (the default)'),
  ).action(async (signal: string | undefined, opts: Record<string, unknown>) => {
    const app = appOf(opts);
    if ((signal === undefined) === (opts.clear !== true)) throw new UsageError('give a SIGNAL, or --clear (one of them)');
    const parsed = parseSignalName(signal ?? '');
    if (!parsed.ok) throw new UsageError(parsed.problem);
    const res = await withApi(opts, (api) => api.setFileChangeSignal(app, parsed.signal));
    printLines([`file change signal of app ${app}: ${parsed.signal || 'none'}; ${updated(res.instances_notified)}`]);
  });

  configDynamicCommands(config);
}

/** One call on a fresh connection; commands check their arguments before it. */
export async function withApi<T>(opts: Record<string, unknown>, call: (api: ControlApi) => Promise<T>): Promise<T> {
  const api = connect(resolveTarget(connectionFlags(opts)));
  try {
    return await call(api);
  } finally {
    api.close();
  }
}

export function appOf(opts: Record<string, unknown>): string {
  const app = opts.app as string | undefined;
  if (app !== undefined && !APP_NAME.test(app)) {
    throw new UsageError(`invalid app name ${JSON.stringify(app)}: use letters, digits, '.', '_' or '-' (at most 63)`);
  }
  return app ?? '';
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function readLocal(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CtlError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

export function scope(app: string): string {
  return app ? `for app ${app}` : 'globally';
}

export function updated(n: number): string {
  if (n === 0) return 'no connected instance affected';
  return `${n} connected instance${n === 1 ? '' : 's'} updated`;
}

/** Values as text on one line; a file as its size (config get --json has the content). */
function shownValue(v: ConfigEntry__Output): string {
  if (v.dynamic) return `dynamic: ${v.dynamic.from} ${settingsText(v.dynamic.config)}`;
  if (v.kind === 'FILE') return `(${v.value.length} bytes)`;
  const text = v.value.toString('utf8');
  return /^[\x20-\x7e\u00a0-\uffff]*$/.test(text) ? text : JSON.stringify(text);
}

function varJson(v: ConfigEntry__Output) {
  return {
    name: v.name,
    scope: v.app ? 'app' : 'global',
    kind: KIND[v.kind],
    ...(v.dynamic ? { dynamic: { from: v.dynamic.from, config: v.dynamic.config } } : { value: v.value.toString('utf8') }),
    overridden: v.overridden,
    updated_at: isoTime(fromTimestamp(v.updated_at)),
  };
}
