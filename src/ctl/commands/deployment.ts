// `waypoint-ctl deployment create|invite|list`.
import type { Command } from 'commander';
import { writeLine } from '../../log.js';
import type { Timestamp__Output } from '../../protocol/generated/google/protobuf/Timestamp.js';
import type { Deployment__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/Deployment.js';
import { fromTimestamp } from '../../protocol/timestamp.js';
import { connect } from '../client.js';
import { inviteTtlMessage, parseInviteTtl } from '../invite-ttl.js';
import { formatLabels, formatTime, isoTime, printJson, printLines, printTable } from '../output.js';
import { resolveTarget, type Target } from '../target.js';
import { collectLabel, connectionFlags, withConnectionOptions } from './options.js';

export function deploymentCommand(program: Command): void {
  const deployment = program.command('deployment').description('create and list deployments, and make new invites for them');

  withConnectionOptions(
    deployment
      .command('create <app>')
      .description('create a deployment of <app> (and the app if new); print the env an instance needs')
      .option('-l, --label <key=value>', 'a label of the deployment (repeatable)', collectLabel)
      .option('--invite-ttl <duration>', `how long the invite can be exchanged: ${TTL_FORMS} (default: the server's, 24h)`)
      .option('--json', 'print JSON'),
  ).action(async (app: string, opts: Record<string, unknown>) => {
    const ttl = inviteTtlFlag(opts);
    const target = resolveTarget(connectionFlags(opts));
    const api = connect(target);
    try {
      const res = await api.createDeployment(app, (opts.label as Record<string, string> | undefined) ?? {}, ttl);
      printInvite(target, res.deployment!, res.invite_token, res.invite_expires_at, Boolean(opts.json));
    } finally {
      api.close();
    }
  });

  withConnectionOptions(
    deployment
      .command('invite <deployment-id>')
      .description('a new invite for an existing deployment (the last one expired, or was revoked); print the env an instance needs')
      .option('--invite-ttl <duration>', `how long the invite can be exchanged: ${TTL_FORMS} (default: the server's, 24h)`)
      .option('--json', 'print JSON'),
  ).action(async (deploymentId: string, opts: Record<string, unknown>) => {
    const ttl = inviteTtlFlag(opts);
    const target = resolveTarget(connectionFlags(opts));
    const api = connect(target);
    try {
      const res = await api.createInvite(deploymentId, ttl);
      printInvite(target, res.deployment!, res.invite_token, res.invite_expires_at, Boolean(opts.json));
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

const TTL_FORMS = 'a duration (90m, 24h, 168h) or "never"';

function inviteTtlFlag(opts: Record<string, unknown>) {
  return opts.inviteTtl === undefined ? undefined : inviteTtlMessage(parseInviteTtl('--invite-ttl', opts.inviteTtl as string));
}

/**
 * The env lines on stdout (they go straight into an env file), the invite's expiry on stderr;
 * with --json, all of it as one object.
 */
function printInvite(target: Target, d: Deployment__Output, token: string, expiresAt: Timestamp__Output | null, json: boolean): void {
  const env = instanceEnv(target, d.id, token);
  const expires = fromTimestamp(expiresAt);
  if (json) {
    printJson({ deployment: deploymentJson(d), invite_token: token, invite_expires_at: isoTime(expires), env });
    return;
  }
  printLines(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  const when = expires === undefined ? 'never expires' : `can be exchanged until ${formatTime(expires)}`;
  writeLine(2, `the invite ${when} (\`deployment invite ${d.id}\` makes a new one)\n`);
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
