// One session: on a fresh channel, check the server's protocol, exchange the invite (once per
// process), then register through EntrypointConfig and keep that stream open. The session lives
// as long as the stream; every later stream (logs, exec, url) rides on its channel.
import type { ClientReadableStream, Metadata } from '@grpc/grpc-js';
import type { EntrypointConfigResponse__Output } from '../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import type { GetVersionInfoResponse__Output } from '../protocol/generated/hashicorp/waypoint/GetVersionInfoResponse.js';
import type { WaypointClient } from '../protocol/generated/hashicorp/waypoint/Waypoint.js';
import { isKeepalive } from '../protocol/keepalive.js';
import { negotiate, PROTOCOL_VERSIONS, type ProtocolRange } from '../protocol/metadata.js';
import { callMetadata } from './call-metadata.js';
import { callFailure, ConnectionFailure } from './errors.js';
import { guardClient, guardEmit, type StreamFault } from './guard.js';

/** What later modules (logs, exec, url) get to open their streams on. */
export interface Session {
  /** The session's client: one channel, one HTTP/2 connection, for every stream. */
  readonly client: WaypointClient;
  readonly instanceId: string;
  /** The server lists FEATURE_INLINE_KEEPALIVES: our client streams may send inline keepalives. */
  readonly inlineKeepalives: boolean;
  /** The entrypoint protocol version both sides speak. */
  readonly protocolVersion: number;
  readonly serverVersion: string;
  /** Auth and version metadata for one call; a fresh object each time. */
  metadata(): Metadata;
  /** Aborted when the session ends (connection lost, config stream closed, shutdown). */
  readonly signal: AbortSignal;
}

export interface SessionOptions {
  client: WaypointClient;
  version: string;
  deploymentId: string;
  instanceId: string;
  disableExec: boolean;
  /** The entrypoint token from an earlier session of this process, if any. */
  token?: string;
  inviteToken?: string;
  /** Deadline of each unary call, and of the config stream's first response. */
  deadlineMs: number;
  /** Each message of the config stream, keepalives already dropped. */
  onMessage(message: EntrypointConfigResponse__Output): void;
  /** An inline keepalive arrived on the config stream (and was dropped). */
  onKeepalive?(): void;
  /** Aborting gives up the attempt at once (shutdown while connecting). */
  abort?: AbortSignal;
  /** A new entrypoint token, as soon as the invite was exchanged (even if registration fails). */
  onToken?(token: string): void;
  /** A handler of a stream opened on `session.client` threw: that stream was dropped. */
  onStreamFault?: StreamFault;
}

export interface OpenSession {
  session: Session;
  /** Resolves once, with why the session ended. */
  ended: Promise<ConnectionFailure>;
  /** Ends the session from our side (shutdown). */
  close(): void;
  /** Ends the session from our side, `ended` resolving with this reason (a fault of ours). */
  drop(reason: ConnectionFailure): void;
}

function unary<Req, Res>(
  call: (req: Req, md: Metadata, options: { deadline: number }, cb: (err: Error | null, res?: Res) => void) => { cancel(): void },
  what: string,
  request: Req,
  metadata: Metadata,
  deadlineMs: number,
  abort?: AbortSignal,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const pending = call(request, metadata, { deadline: Date.now() + deadlineMs }, (err, res) => {
      abort?.removeEventListener('abort', cancel);
      if (err || res === undefined) reject(callFailure(what, err ?? new Error('empty response')));
      else resolve(res);
    });
    const cancel = () => pending.cancel();
    abort?.addEventListener('abort', cancel, { once: true });
  });
}

function rangeText(range: ProtocolRange): string {
  return range.minimum === range.current ? `${range.current}` : `${range.minimum}..${range.current}`;
}

/** The version both speak, or an 'incompatible' failure that names both ranges. */
export function checkVersion(info: GetVersionInfoResponse__Output): { protocolVersion: number; inlineKeepalives: boolean; serverVersion: string } {
  const serverVersion = info.info?.version || 'unknown';
  const theirs = info.info?.entrypoint;
  const ours = PROTOCOL_VERSIONS.entrypoint;
  if (!theirs) {
    throw new ConnectionFailure('incompatible', `the server (version ${serverVersion}) reports no entrypoint protocol version`);
  }
  const range = { minimum: theirs.minimum, current: theirs.current };
  const protocolVersion = negotiate(ours, range);
  if (protocolVersion === undefined) {
    throw new ConnectionFailure(
      'incompatible',
      `the server (version ${serverVersion}) speaks entrypoint protocol ${rangeText(range)} (minimum ${range.minimum}, current ${range.current}), this entrypoint speaks ${rangeText(ours)} (minimum ${ours.minimum}, current ${ours.current})`,
    );
  }
  const features = info.server_features?.features ?? [];
  return { protocolVersion, serverVersion, inlineKeepalives: features.includes('FEATURE_INLINE_KEEPALIVES') };
}

/** Version check, token, registration. Resolves once the config stream answered. */
export async function openSession(options: SessionOptions): Promise<OpenSession> {
  const { client, version, deadlineMs } = options;
  const versionInfo = await unary<object, GetVersionInfoResponse__Output>(
    client.GetVersionInfo.bind(client),
    'GetVersionInfo',
    {},
    callMetadata({ version }),
    deadlineMs,
    options.abort,
  );
  const { protocolVersion, serverVersion, inlineKeepalives } = checkVersion(versionInfo);

  let token = options.token;
  if (!token && options.inviteToken) {
    const res = await unary<{ token: string }, { token: string }>(
      client.ConvertInviteToken.bind(client),
      'ConvertInviteToken',
      { token: options.inviteToken },
      callMetadata({ version }),
      deadlineMs,
      options.abort,
    );
    if (!res.token) throw new ConnectionFailure('rejected', 'ConvertInviteToken: the server returned an empty token');
    token = res.token;
    options.onToken?.(token);
  }

  const controller = new AbortController();
  const metadata = () => callMetadata({ version, token });
  const stream = client.EntrypointConfig(
    {
      deployment_id: options.deploymentId,
      instance_id: options.instanceId,
      type: 'LONG_RUNNING',
      disable_exec: options.disableExec,
    },
    metadata(),
  );
  const { opened, ended, end } = watchStream(stream, deadlineMs, options);
  const onFault: StreamFault = options.onStreamFault ?? (() => {});
  // The config stream is the session: a fault in its dispatch ends the session, not us.
  let faulted = false;
  guardEmit(stream, (error) => {
    if (faulted) return;
    faulted = true;
    onFault(error, 'EntrypointConfig');
    end(new ConnectionFailure('fault', 'a handler of the config stream failed'));
    stream.cancel();
  });
  const cancel = () => stream.cancel();
  options.abort?.addEventListener('abort', cancel, { once: true });
  await opened.finally(() => options.abort?.removeEventListener('abort', cancel));
  void ended.then(() => controller.abort());
  return {
    ended,
    close: () => stream.cancel(),
    drop: (reason) => {
      end(reason);
      stream.cancel();
    },
    session: {
      // Every later stream is opened on this one: a handler's exception drops its stream only.
      client: guardClient(client, onFault),
      instanceId: options.instanceId,
      inlineKeepalives,
      protocolVersion,
      serverVersion,
      metadata,
      signal: controller.signal,
    },
  };
}

/**
 * Watches the config stream. `opened` resolves at its first sign of life (response headers or a
 * message); a stream that says nothing within the deadline is a failed attempt, not a
 * registration: a peer that accepts and hangs must not look connected. `ended` resolves when
 * an opened stream ends.
 */
function watchStream(
  stream: ClientReadableStream<EntrypointConfigResponse__Output>,
  deadlineMs: number,
  { onMessage, onKeepalive }: Pick<SessionOptions, 'onMessage' | 'onKeepalive'>,
): { opened: Promise<void>; ended: Promise<ConnectionFailure>; end(reason: ConnectionFailure): void } {
  let open = false;
  let resolveOpened!: () => void;
  let rejectOpened!: (failure: ConnectionFailure) => void;
  let resolveEnded!: (failure: ConnectionFailure) => void;
  const opened = new Promise<void>((resolve, reject) => {
    resolveOpened = resolve;
    rejectOpened = reject;
  });
  const ended = new Promise<ConnectionFailure>((resolve) => (resolveEnded = resolve));
  const timer = setTimeout(() => {
    rejectOpened(new ConnectionFailure('silent', 'EntrypointConfig: no answer in time'));
    stream.cancel();
  }, deadlineMs);
  const alive = () => {
    if (open) return;
    open = true;
    clearTimeout(timer);
    resolveOpened();
  };
  stream.on('metadata', alive);
  stream.on('data', (message: unknown) => {
    alive();
    if (isKeepalive(message)) onKeepalive?.();
    else onMessage(message as EntrypointConfigResponse__Output);
  });
  // 'error' carries the same status as 'status'; it needs a listener or it throws.
  stream.on('error', () => {});
  stream.on('status', (status) => {
    clearTimeout(timer);
    const failure =
      status.code === 0
        ? new ConnectionFailure('rejected', 'EntrypointConfig: the server closed the config stream')
        : callFailure('EntrypointConfig', Object.assign(new Error(status.details), status));
    if (open) resolveEnded(failure);
    else rejectOpened(failure);
  });
  return { opened, ended, end: (reason) => resolveEnded(reason) };
}
