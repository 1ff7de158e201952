// `waypoint-entrypoint [options] [--] <command> [args...]`: parse, validate, run, exit.
import type { Command } from 'commander';
import { runEntrypoint } from '../entrypoint.js';
import { type LogFields, Logger, writeLine } from '../log.js';
import { loadSettings, logFormatOf, SettingsError } from '../settings.js';
import { versionLine } from '../version.js';

const EXIT_USAGE = 2;

const ENV_HELP = `
Settings come from the environment (see README.md for all of them):
  WAYPOINT_SERVER_ADDR         host:port of the control server, or several: a:9701,b:9701
                               (unset: no connection)
  WAYPOINT_CEB_DISABLE         1 to run as a plain supervisor, with no network
  WAYPOINT_CEB_STOP_TIMEOUT    grace period before SIGKILL on stop (default 30s)
  WAYPOINT_CEB_SIGNAL_GROUP    1 to forward signals to the app's whole process group
  WAYPOINT_CEB_SUBREAPER       1 to reap orphaned descendants when not PID 1
  WAYPOINT_LOG_LEVEL           trace, debug, info, warn or error (default info)
  PORT                         the app's port, set for it when unset (default 5000)

Exit status: the command's own; 128+N if it died of signal N; 127 if it was not found;
126 if it could not be executed; 2 for a usage or settings error.`;

async function buildProgram(): Promise<Command> {
  const { Command } = await import('./commander.js');
  return new Command('waypoint-entrypoint')
    .description('Run a command under a PID-1-correct supervisor connected to a Waypoint server.')
    .usage('[options] [--] <command> [args...]')
    .version(versionLine(), '-V, --version', 'our version, the Node inside and the platform')
    .argument('[command...]', 'the command to run, and its arguments, verbatim')
    .passThroughOptions() // everything from the command on belongs to the command
    .helpOption('-h, --help')
    .addHelpText('after', ENV_HELP)
    .exitOverride()
    .configureOutput({ writeErr: (text) => writeLine(2, text) });
}

/**
 * The usual invocations, a command or `--` then a command, need no option parsing: answer them
 * without loading commander (a chunk of its own, see ./commander.ts), whose load alone is a
 * tenth of our start-up budget.
 */
function commandWithoutOptions(argv: string[]): string[] | undefined {
  if (argv[0] === '--') return argv.length > 1 ? argv.slice(1) : undefined;
  if (argv.length === 0 || argv[0].startsWith('-')) return undefined;
  return argv;
}

/** Everything else (options, help, errors) through commander: the command, or an exit code. */
async function parseWithCommander(argv: string[]): Promise<string[] | number> {
  const { CommanderError } = await import('./commander.js');
  const program = await buildProgram();
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : EXIT_USAGE;
    }
    throw err;
  }
  if (program.args.length === 0) {
    writeLine(2, `waypoint-entrypoint: no command given\n${program.helpInformation()}`);
    return EXIT_USAGE;
  }
  return program.args;
}

/** An error before (or outside) the logger: a JSON line in JSON mode, else our plain line. */
function reportEarly(message: string, fields: LogFields = {}): void {
  if (logFormatOf(process.env) === 'json') new Logger('error', 2, 'json').error(message, fields);
  else writeLine(2, `waypoint-entrypoint: ${message}\n`);
}

export async function main(argv: string[]): Promise<number> {
  const command = commandWithoutOptions(argv) ?? (await parseWithCommander(argv));
  if (typeof command === 'number') return command;

  let settings;
  try {
    settings = loadSettings(process.env);
  } catch (err) {
    if (err instanceof SettingsError) {
      reportEarly(err.message, { variable: err.variable });
      return EXIT_USAGE;
    }
    throw err;
  }
  return runEntrypoint({ argv: command, settings, logger: new Logger(settings.logLevel, 2, settings.logFormat) });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // A bug of ours: one line, not a stack trace, and an exit code that says "not the app".
    reportEarly(`internal error: ${(err as Error)?.message ?? String(err)}`);
    process.exit(1);
  },
);
