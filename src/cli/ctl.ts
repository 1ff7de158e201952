// `waypoint-ctl`: the operator CLI and the reference server. Parse, run, exit: every failure is
// one line on stderr; exit 1 for failures, 2 for usage errors.
import { Command, CommanderError } from 'commander';
import { writeLine } from '../log.js';
import { configCommand } from '../ctl/commands/config.js';
import { deploymentCommand } from '../ctl/commands/deployment.js';
import { devCommand } from '../ctl/commands/dev.js';
import { execCommand, execHistoryCommand } from '../ctl/commands/exec.js';
import { imageCommand } from '../ctl/commands/image.js';
import { instancesCommand } from '../ctl/commands/instances.js';
import { logsCommand } from '../ctl/commands/logs.js';
import { serverCommand } from '../ctl/commands/server.js';
import { tokenCommand } from '../ctl/commands/token.js';
import { urlCommand } from '../ctl/commands/url.js';
import { CtlError, EXIT_FAILURE, EXIT_USAGE } from '../ctl/errors.js';

declare const __VERSION__: string;

const HELP_AFTER = `
Quick start:
  waypoint-ctl dev -- node app.js     a throwaway server, and your app connected to it

Where commands find the server and its token (the first that says wins):
  --server-addr, --token (and --tls, --tls-ca-file, --tls-skip-verify)
  WAYPOINT_SERVER_ADDR, WAYPOINT_TOKEN (and WAYPOINT_SERVER_TLS, _TLS_CA_FILE, _TLS_SKIP_VERIFY)
  the context file \`server run\` writes: $XDG_CONFIG_HOME/waypoint-ctl/context.json
  (~/.config/ by default; WAYPOINT_CTL_CONTEXT names another)

Exit status: 0 done; 1 failed (server unreachable, token refused, ...), with one line on
stderr; 2 usage error. \`dev\` exits with the app's status, \`exec\` with the command's.`;

function buildProgram(): Command {
  const program = new Command('waypoint-ctl')
    .description('Operate a waypoint-entrypoint control server: run it, create deployments, list instances, set app config, read logs, run commands in instances, list app URLs, list, revoke and rotate tokens.')
    .version(__VERSION__, '-V, --version')
    .helpOption('-h, --help')
    .showHelpAfterError('(--help for usage)')
    .addHelpText('after', HELP_AFTER)
    // `dev -- <command...>` passes everything after its options through to the command.
    .enablePositionalOptions()
    // Set before any subcommand exists: commander copies these settings into each new one.
    .exitOverride()
    .configureOutput({ writeErr: (text) => writeLine(2, text) });
  serverCommand(program);
  deploymentCommand(program);
  instancesCommand(program);
  configCommand(program);
  logsCommand(program);
  execCommand(program);
  execHistoryCommand(program);
  urlCommand(program);
  tokenCommand(program);
  devCommand(program);
  imageCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : EXIT_USAGE;
    }
    if (err instanceof CtlError) {
      writeLine(2, `waypoint-ctl: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

// grpc-js passes an IP address as the TLS server name (127.0.0.1 with --tls-ca-file), for which
// Node prints a deprecation warning: noise on a CLI's stderr, where every line should matter.
process.noDeprecation = true;

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    writeLine(2, `waypoint-ctl: internal error: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
