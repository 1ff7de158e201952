// `waypoint-ctl logs`: the recent lines of an app's (or one instance's, or every app's)
// instances in time order, then with -f new ones as they arrive, until Ctrl-C or SIGTERM (exit
// 0). A stream the server ends is one line on stderr and exit 1.
import { type Command, Option } from 'commander';
import { writeSync } from 'node:fs';
import type { GetLogsResponse__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import { writeLine } from '../../log.js';
import { grpc } from '../../protocol/load.js';
import { APP_NAME } from '../../rules/names.js';
import { connect, explain } from '../client.js';
import { CtlError, UsageError } from '../errors.js';
import { humanLine, jsonLine } from '../log-format.js';
import { resolveTarget, type Target } from '../target.js';
import { connectionFlags, withConnectionOptions } from './options.js';

const SOURCES = { all: 'ALL', app: 'APP', entrypoint: 'ENTRYPOINT' } as const;

interface LogsOptions {
  app?: string;
  instance?: string;
  follow?: boolean;
  source: keyof typeof SOURCES;
  json?: boolean;
}

export function logsCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('logs')
      .description("show instances' recent log lines in time order (every app's by default); -f: then follow new ones")
      .option('--app <app>', "only this app's instances")
      .option('--instance <id>', 'only this instance (a live one, or one gone within the hour)')
      .option('-f, --follow', 'keep printing new lines as they arrive, until Ctrl-C')
      .addOption(new Option('--source <source>', 'whose lines: the app, the entrypoint, or all').choices(Object.keys(SOURCES)).default('all'))
      .option('--json', 'one JSON object per line: instance_id, app, timestamp, source, line'),
  ).action(async (opts: LogsOptions & Record<string, unknown>) => {
    if (opts.app !== undefined && opts.instance !== undefined) {
      throw new UsageError('--app and --instance do not mix: give one of them, or neither for every app');
    }
    if (opts.app !== undefined && !APP_NAME.test(opts.app)) throw new UsageError(`invalid app name ${JSON.stringify(opts.app)}`);
    if (opts.instance === '') throw new UsageError('--instance needs an instance id');
    await streamLogs(resolveTarget(connectionFlags(opts)), opts);
  });
}

async function streamLogs(target: Target, opts: LogsOptions): Promise<void> {
  const api = connect(target);
  const call = api.getLogs({
    app: opts.app ?? '',
    instance_id: opts.instance ?? '',
    source: SOURCES[opts.source],
    follow: opts.follow === true,
  });
  const format = opts.json ? jsonLine : humanLine;
  let established = false;
  let stopping = false;
  const stop = () => {
    stopping = true;
    call.cancel();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await new Promise<void>((resolve, reject) => {
      // The server sends its headers at once: from then on, an error is the stream ending.
      call.on('metadata', () => {
        established = true;
      });
      call.on('data', (message: GetLogsResponse__Output) => {
        established = true;
        if (message.dropped !== '0') writeLine(2, `waypoint-ctl: ${message.dropped} log lines dropped here: this reader fell behind\n`);
        if (message.lines.length > 0 && !writeOut(`${message.lines.map(format).join('\n')}\n`)) stop();
      });
      call.on('error', () => undefined); // reported through 'status', which always comes
      call.on('status', (status: grpc.StatusObject) => {
        if (status.code === grpc.status.OK || (stopping && status.code === grpc.status.CANCELLED)) resolve();
        else reject(failure(status, target, established));
      });
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    api.close();
  }
}

function failure(status: grpc.StatusObject, target: Target, established: boolean): CtlError {
  if (!established) {
    const err = Object.assign(new Error(status.details), { code: status.code, details: status.details, metadata: status.metadata });
    return explain(err, target);
  }
  return new CtlError(`the log stream from the server at ${target.addr} ended: ${status.details || grpc.status[status.code]}`);
}

/** All of `text` to stdout; false when stdout is gone (a closed pipe: `logs -f | head`). */
function writeOut(text: string): boolean {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return false;
    }
  }
  return true;
}
