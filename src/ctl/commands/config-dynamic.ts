// `waypoint-ctl config source set|get|unset` and `config status`: the settings of dynamic config
// sources (Vault's address and token...) per scope, and how each live instance's dynamic vars
// resolve. Secret settings come back from the server masked; values are never shown (the server
// never has them: each instance reads its own).
import type { Command } from 'commander';
import { fromTimestamp } from '../../protocol/timestamp.js';
import { sourceTypeProblem } from '../../rules/dynamic.js';
import { parseSettings } from '../config-args.js';
import { UsageError } from '../errors.js';
import { isoTime, printJson, printLines, printTable } from '../output.js';
import { withConnectionOptions } from './options.js';
import { appOf, scope, updated, withApi } from './config.js';

export function configDynamicCommands(config: Command): void {
  const source = config.command('source').description('settings of the sources dynamic vars are read from (global, or of --app: the app\'s win)');

  withConnectionOptions(
    source
      .command('set')
      .description('set the settings of a source type in a scope, replacing the ones it had')
      .argument('<TYPE>', 'null, vault, kubernetes, consul or aws-ssm')
      .argument('<KEY=VALUE...>', 'its settings (e.g. addr=https://vault:8200 token=...)')
      .option('--app <app>', 'of this app (default: global, every app)'),
  ).action(async (type: string, assignments: string[], opts: Record<string, unknown>) => {
    const app = appOf(opts);
    checkType(type);
    const settings = parseSettings(assignments);
    const res = await withApi(opts, (api) => api.setConfigSource(app, type, settings));
    printLines([`set the ${type} source ${scope(app)} (${Object.keys(settings).sort().join(', ')}); ${updated(res.instances_notified)}`]);
  });

  withConnectionOptions(
    source
      .command('get')
      .description('show the sources that reach an app (its own and the global ones), or the global ones; secrets masked')
      .option('--app <app>', 'of this app (default: the global sources)')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const app = appOf(opts);
    const res = await withApi(opts, (api) => api.getConfigSources(app));
    if (opts.json) {
      printJson({
        app: app || null,
        sources: res.sources.map((s) => ({ type: s.type, scope: s.app ? 'app' : 'global', settings: s.settings, overridden: s.overridden, updated_at: isoTime(fromTimestamp(s.updated_at)) })),
      });
      return;
    }
    printTable(
      ['TYPE', 'SCOPE', 'SETTINGS'],
      res.sources.map((s) => [s.type, s.app ? 'app' : s.overridden ? 'global (overridden)' : 'global', settingsText(s.settings)]),
      app ? `no config sources reach app ${app}` : 'no global config sources',
    );
  });

  withConnectionOptions(
    source
      .command('unset')
      .description('remove a source type\'s settings from a scope')
      .argument('<TYPE>', 'the source type')
      .option('--app <app>', 'of this app (default: global)'),
  ).action(async (type: string, opts: Record<string, unknown>) => {
    const app = appOf(opts);
    checkType(type);
    const res = await withApi(opts, (api) => api.unsetConfigSource(app, type));
    printLines([`unset the ${type} source ${scope(app)}; ${updated(res.instances_notified)}`]);
  });

  withConnectionOptions(
    config
      .command('status')
      .description('how the dynamic vars of each live instance resolve (ok, or the error), as the instances report it')
      .option('--app <app>', 'of this app (default: every app)')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const app = appOf(opts);
    const res = await withApi(opts, (api) => api.getConfigStatus(app));
    const rows = res.instances.flatMap((i) =>
      i.vars.map((v) => ({ instance: i.instance_id, app: i.app, name: v.name, source: v.source, ok: v.ok, message: v.message, resolvedAt: fromTimestamp(v.resolved_at) })),
    );
    if (opts.json) {
      printJson({
        instances: res.instances.map((i) => ({
          instance: i.instance_id,
          app: i.app,
          deployment: i.deployment_id,
          reported_at: isoTime(fromTimestamp(i.reported_at)),
          vars: i.vars.map((v) => ({ name: v.name, source: v.source, ok: v.ok, message: v.message || null, resolved_at: isoTime(fromTimestamp(v.resolved_at)) })),
        })),
      });
      return;
    }
    printTable(
      ['INSTANCE', 'APP', 'VAR', 'SOURCE', 'STATUS', 'RESOLVED'],
      rows.map((r) => [r.instance, r.app, r.name, r.source, r.ok ? 'ok' : `error: ${r.message}`, isoTime(r.resolvedAt) ?? 'never']),
      app ? `no live instance of app ${app} reports dynamic vars` : 'no live instance reports dynamic vars',
    );
  });
}

function checkType(type: string): void {
  const problem = sourceTypeProblem(type);
  if (problem) throw new UsageError(problem);
}

/** Settings on one line, by key: `addr=https://vault:8200 token=hvs.…`. */
export function settingsText(settings: Record<string, string>): string {
  return Object.keys(settings)
    .sort()
    .map((k) => `${k}=${settings[k]}`)
    .join(' ');
}
