// `waypoint-ctl token list|revoke|rotate-operator`: the tokens the server issued (records only:
// a token's secret is never stored, so never shown), revocation, and a new operator token.
import type { Command } from 'commander';
import { writeLine } from '../../log.js';
import type { TokenInfo__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/TokenInfo.js';
import { fromTimestamp } from '../../protocol/timestamp.js';
import { connect } from '../client.js';
import { readContext, writeContext } from '../context.js';
import { formatTime, isoTime, printJson, printLines, printTable } from '../output.js';
import { resolveTarget, type Target } from '../target.js';
import { connectionFlags, withConnectionOptions } from './options.js';

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('list, revoke and rotate the tokens the server issued');

  withConnectionOptions(
    token
      .command('list')
      .description('every token issued, oldest first: id, kind, app, deployment, created, expires, revoked (never the secret)')
      .option('--app <app>', 'only the tokens of this app')
      .option('--deployment <id>', 'only the tokens of this deployment')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const api = connect(resolveTarget(connectionFlags(opts)));
    try {
      const { tokens } = await api.listTokens({ app: (opts.app as string) ?? '', deployment_id: (opts.deployment as string) ?? '' });
      if (opts.json) printJson(tokens.map(tokenJson));
      else {
        printTable(
          ['ID', 'KIND', 'APP', 'DEPLOYMENT', 'CREATED', 'EXPIRES', 'REVOKED'],
          tokens.map((t) => [
            t.id,
            t.kind,
            t.app || '-',
            t.deployment_id || '-',
            formatTime(fromTimestamp(t.created_at)),
            t.expires_at ? formatTime(fromTimestamp(t.expires_at)) : 'never',
            formatTime(fromTimestamp(t.revoked_at)),
          ]),
          'no tokens',
        );
      }
    } finally {
      api.close();
    }
  });

  withConnectionOptions(
    token
      .command('revoke <id>')
      .description(
        'revoke an invite or entrypoint token (an invite: with the entrypoint tokens exchanged from it); ' +
          'the instances registered with it are dropped, and it is refused from its next call on',
      ),
  ).action(async (id: string, opts: Record<string, unknown>) => {
    const api = connect(resolveTarget(connectionFlags(opts)));
    try {
      const res = await api.revokeToken(id);
      const others = res.revoked_ids.length - 1;
      printLines([
        `revoked ${id}${others > 0 ? ` and ${others} entrypoint token${others === 1 ? '' : 's'} exchanged from it` : ''}; ` +
          `${res.instances_dropped} connected instance${res.instances_dropped === 1 ? '' : 's'} dropped`,
      ]);
    } finally {
      api.close();
    }
  });

  withConnectionOptions(
    token
      .command('rotate-operator')
      .description(
        'make a new operator token and revoke every other one (this one too); the context file it came from is updated, ' +
          'else the new token is printed',
      ),
  ).action(async (opts: Record<string, unknown>) => {
    const target = resolveTarget(connectionFlags(opts));
    const api = connect(target);
    try {
      const res = await api.rotateOperatorToken();
      if (saveToContext(target, res.token)) {
        printLines([`operator token rotated: ${res.id} (in ${target.contextFile}); ${res.revoked_ids.length} revoked`]);
      } else {
        printLines([`operator token ${res.token}`]);
        writeLine(2, `operator token rotated: ${res.id}; ${res.revoked_ids.length} revoked. Keep the new one: it is not shown again\n`);
      }
    } finally {
      api.close();
    }
  });
}

/** Replaces the token in the context file the old one came from; false when there is none. */
function saveToContext(target: Target, token: string): boolean {
  if (!target.contextFile) return false;
  const context = readContext(target.contextFile);
  if (!context) return false;
  writeContext(target.contextFile, { ...context, token });
  return true;
}

function tokenJson(t: TokenInfo__Output) {
  return {
    id: t.id,
    kind: t.kind,
    app: t.app || null,
    deployment_id: t.deployment_id || null,
    parent_id: t.parent_id || null,
    created_at: isoTime(fromTimestamp(t.created_at)),
    expires_at: isoTime(fromTimestamp(t.expires_at)),
    revoked_at: isoTime(fromTimestamp(t.revoked_at)),
  };
}
