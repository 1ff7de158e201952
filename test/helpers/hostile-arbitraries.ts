// fast-check arbitraries for what a hostile server says to the entrypoint: configs, exec
// answers, URL registrations and tunnel data, each valid protobuf but absurd, or raw bytes.
// Two limits keep the fuzz from acting on the host rather than on the entrypoint: exec commands
// are harmless ones (or ones that cannot be found), and config files are relative names in the
// test's directory. Env vars are internal (not exposed to the app) and file_change_signal names
// signals the app ignores, so that nothing legitimately restarts or signals the app: its pid
// must not change.
import fc from 'fast-check';
import type { Reply } from './hostile-server.js';

/** Any text, unpaired surrogates and NUL included. */
const anyText = (maxLength = 40) => fc.string({ unit: 'binary', maxLength });
const raw = fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes));
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
/** Small indexes (so that they repeat), huge, negative and non-numeric ones. */
const execIndex = fc.oneof(
  fc.integer({ min: 0, max: 20 }).map(String),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
);
const windowSize = fc.record({ rows: int32, cols: int32, width: int32, height: int32 });
const COMMANDS = ['true', 'false', 'echo', 'cat', 'printf', '/etc/passwd/x', 'a'.repeat(300), 'no-such-command', 'nul\u0000cmd', '', '/', './x'];

const envVar = fc.oneof(
  fc.record({ name: anyText(20), static: anyText(), internal: fc.constant(true) }),
  fc.record({ name: anyText(20), unset: fc.constant({}), internal: fc.constant(true) }),
  fc.record({ name: fc.stringMatching(/^fuzz-[a-z0-9]{1,8}$/), static: anyText(), name_is_path: fc.constant(true) }),
);

const execEntry = fc.record({
  index: execIndex,
  args: fc.tuple(fc.constantFrom(...COMMANDS), fc.array(anyText(20), { maxLength: 3 })).map(([c, rest]) => [c, ...rest]),
  pty: fc.option(fc.record({ enable: fc.boolean(), term: anyText(20), window_size: windowSize }), { nil: undefined }),
});

const config = fc.record(
  {
    env_vars: fc.array(envVar, { maxLength: 4 }),
    exec: fc.array(execEntry, { maxLength: 3 }),
    url_service: fc.option(fc.record({ control_addr: fc.oneof(fc.constant(''), anyText(20)), token: anyText(20), labels: anyText(10) }), { nil: undefined }),
    file_change_signal: fc.constantFrom('', 'SIGUSR1', 'usr2', 'WINCH', 'hup', 'SIGNOPE', '9'),
  },
  { requiredKeys: [] },
);

export const configReply: fc.Arbitrary<Reply> = fc.oneof(
  { weight: 8, arbitrary: config.map((c) => ({ config: c })) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: raw },
);

export const execReply: fc.Arbitrary<Reply> = fc.oneof(
  fc.record({ opened: fc.boolean() }),
  fc.record({ input: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) }),
  fc.constant({ input_eof: {} }),
  fc.record({ winch: windowSize }),
  raw,
);

export const registerReply: fc.Arbitrary<Reply> = fc.oneof(
  fc.record({ registered: fc.record({ urls: fc.array(anyText(30), { maxLength: 3 }) }) }),
  fc.record({ open: fc.record({ connection_id: anyText(20) }) }),
  fc.constant({ ping: {} }),
  raw,
);

export const connectReply: fc.Arbitrary<Reply> = fc.oneof(
  fc.record({ data: fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)) }),
  fc.constant({ eof: {} }),
  raw,
);

/** One generated session: what the server says on each stream. */
export interface HostileSession {
  configs: Reply[];
  exec: Reply[];
  register: Reply[];
  connect: Reply[];
}

export const hostileSession: fc.Arbitrary<HostileSession> = fc.record({
  configs: fc.array(configReply, { minLength: 1, maxLength: 4 }),
  exec: fc.array(execReply, { maxLength: 6 }),
  register: fc.array(registerReply, { maxLength: 4 }),
  connect: fc.array(connectReply, { maxLength: 4 }),
});
