// `waypoint-ctl url`: the URLs of the server's URL service, and how many instances serve each.
import type { Command } from 'commander';
import { connect } from '../client.js';
import { printJson, printTable } from '../output.js';
import { resolveTarget } from '../target.js';
import { connectionFlags, withConnectionOptions } from './options.js';

export function urlCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('url')
      .description("list the apps' URLs (each app's, then its deployments' with live instances) and how many instances serve each")
      .option('--app <app>', 'only the URLs of this app')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const api = connect(resolveTarget(connectionFlags(opts)));
    try {
      const { urls } = await api.listUrls(opts.app as string | undefined);
      if (opts.json) {
        printJson(urls.map((u) => ({ url: u.url, app: u.app, deployment_id: u.deployment_id || null, instances: u.instances })));
      } else {
        printTable(
          ['URL', 'APP', 'DEPLOYMENT', 'INSTANCES'],
          urls.map((u) => [u.url, u.app, u.deployment_id || '(newest)', String(u.instances)]),
          'no apps',
        );
      }
    } finally {
      api.close();
    }
  });
}
