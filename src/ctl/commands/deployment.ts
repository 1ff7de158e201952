// `waypoint-ctl deployment create|list`.
import type { Command } from 'commander';
import type { Deployment__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/Deployment.js';
import { fromTimestamp } from '../../protocol/timestamp.js';
import { connect } from '../client.js';
import { formatLabels, formatTime, isoTime, printJson, printLines, printTable } from '../output.js';
import { resolveTarget, type Target } from '../target.js';
import { collectLabel, connectionFlags, withConnectionOptions } from './options.js';

export function deploymentCommand(program: Command): void {
  const deployment = program.command('deployment').description('create and list deployments');

  withConnectionOptions(
    deployment
      .command('create <app>')
      .description('create a deployment of <app> (and the app if new); print the env an instance needs')
      .option('-l, --label <key=value>', 'a label of the deployment (repeatable)', collectLabel)
      .option('--json', 'print JSON'),
  ).action(async (app: string, opts: Record<string, unknown>) => {
    const target = resolveTarget(connectionFlags(opts));
    const api = connect(target);
    try {
      const res = await api.createDeployment(app, (opts.label as Record<string, string> | undefined) ?? {});
      const env = instanceEnv(target, res.deployment!.id, res.invite_token);
      if (opts.json) printJson({ deployment: deploymentJson(res.deployment!), invite_token: res.invite_token, env });
      else printLines(Object.entries(env).map(([k, v]) => `${k}=${v}`));
    } finally {
      api.close();
    }
  });

  withConnectionOptions(
    deployment
      .command('list')
      .description('list deployments, oldest first')
      .option('--app <app>', 'only the deployments of this app')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const api = connect(resolveTarget(connectionFlags(opts)));
    try {
      const { deployments } = await api.listDeployments(opts.app as string | undefined);
      if (opts.json) printJson(deployments.map(deploymentJson));
      else {
        printTable(
          ['DEPLOYMENT', 'APP', 'LABELS', 'CREATED'],
          deployments.map((d) => [d.id, d.app, formatLabels(d.labels), formatTime(fromTimestamp(d.created_at))]),
          'no deployments',
        );
      }
    } finally {
      api.close();
    }
  });
}

/** The environment of an instance of this deployment, as its entrypoint reads it. */
function instanceEnv(target: Target, deploymentId: string, inviteToken: string): Record<string, string> {
  return {
    WAYPOINT_SERVER_ADDR: target.addr,
    ...(target.tls && { WAYPOINT_SERVER_TLS: 'true' }),
    ...(target.tls?.skipVerify && { WAYPOINT_SERVER_TLS_SKIP_VERIFY: 'true' }),
    ...(target.tls?.caFile && { WAYPOINT_SERVER_TLS_CA_FILE: target.tls.caFile }),
    WAYPOINT_DEPLOYMENT_ID: deploymentId,
    WAYPOINT_CEB_INVITE_TOKEN: inviteToken,
  };
}

function deploymentJson(d: Deployment__Output) {
  return { id: d.id, app: d.app, labels: d.labels, created_at: isoTime(fromTimestamp(d.created_at)) };
}
