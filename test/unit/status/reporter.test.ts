// The entrypoint's status reporter (src/status/reporter.ts) against a recording fake client: one
// Report per session and per change, one call at a time with the latest status winning, a server
// without the service asked once per session, refusals not repeated, other failures retried
// with backoff; all of it at debug level, nothing thrown.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger, sessionOn } from '../../helpers/fake-session.js';
import type { ReportStatusRequest } from '../../../src/protocol/generated/waypoint_entrypoint/status/v1/ReportStatusRequest.js';
import { CONFIG_STATUS, StatusReporter } from '../../../src/status/reporter.js';
import type { AppStatus } from '../../../src/supervisor/lifecycle.js';

interface FakeCall {
  request: ReportStatusRequest;
  answer(code?: number, details?: string): void;
}

function fakeSession() {
  const calls: FakeCall[] = [];
  const client = {
    makeUnaryRequest: (path: string, _s: unknown, _d: unknown, request: ReportStatusRequest, _m: unknown, _o: unknown, cb: (err: unknown) => void) => {
      expect(path).toBe('/waypoint_entrypoint.status.v1.InstanceStatus/Report');
      calls.push({ request, answer: (code = 0, details = '') => cb(code === 0 ? null : Object.assign(new Error(details), { code, details })) });
      return { cancel() {} };
    },
  };
  return { ...sessionOn(client), calls };
}

function reporter() {
  const { logger, records } = recordingLogger();
  const status = new StatusReporter({ instanceId: 'I1', logger, random: () => 0 });
  const above = () => records.filter((r) => r.level !== 'debug' && r.level !== 'trace');
  return { status, records, above };
}

const at = (state: AppStatus['state'], message = '', since = 1_700_000_000_000): AppStatus => ({ state, message, since });
const states = (calls: FakeCall[]) => calls.map((c) => c.request.state);

describe('StatusReporter', () => {
  afterEach(() => vi.useRealTimers());

  it('reports once a session and a status are both there, with id, state, message and time; again on a change', () => {
    const { status } = reporter();
    const s = fakeSession();
    status.set(at('RUNNING'));
    expect(s.calls).toHaveLength(0);
    status.attach(s.session);
    expect(s.calls.map((c) => c.request)).toEqual([
      { instance_id: 'I1', state: 'RUNNING', message: '', since: { seconds: '1700000000', nanos: 0 } },
    ]);
    s.calls[0].answer();
    status.set(at('CONFIG_REFUSED', 'config env not applied: sh: command not found'));
    expect(states(s.calls)).toEqual(['RUNNING', 'CONFIG_REFUSED']);
    expect(s.calls[1].request.message).toBe('config env not applied: sh: command not found');
  });

  it('one call at a time: changes meanwhile are sent after it, the latest only', () => {
    const { status } = reporter();
    const s = fakeSession();
    status.attach(s.session);
    status.set(at('RUNNING'));
    status.set(at('CONFIG_REFUSED', 'a'));
    status.set(at('RESTART_FAILED', 'b'));
    expect(states(s.calls)).toEqual(['RUNNING']);
    s.calls[0].answer();
    expect(states(s.calls)).toEqual(['RUNNING', 'RESTART_FAILED']);
    s.calls[1].answer();
    expect(s.calls).toHaveLength(2);
  });

  it('each new session is told afresh (the server forgot); an ended one is not', () => {
    const { status } = reporter();
    const first = fakeSession();
    status.set(at('CONFIG_REFUSED', 'x'));
    status.attach(first.session);
    first.calls[0].answer();
    first.end();
    status.set(at('RUNNING'));
    expect(first.calls).toHaveLength(1);
    const second = fakeSession();
    status.attach(second.session);
    expect(states(second.calls)).toEqual(['RUNNING']);
  });

  it('a server without the service (UNIMPLEMENTED): one debug line, never asked again on that session; the next session is', () => {
    const { status, records, above } = reporter();
    const s = fakeSession();
    status.set(at('RUNNING'));
    status.attach(s.session);
    s.calls[0].answer(12, 'unknown service waypoint_entrypoint.status.v1.InstanceStatus');
    status.set(at('CONFIG_REFUSED', 'x'));
    status.set(at('RUNNING'));
    expect(s.calls).toHaveLength(1);
    expect(records.filter((r) => r.message.includes('no instance status service'))).toHaveLength(1);
    const next = fakeSession();
    status.attach(next.session);
    expect(next.calls).toHaveLength(1);
    expect(above()).toEqual([]);
  });

  it('a refusal is not repeated for the same status; a new status is sent', () => {
    const { status, above } = reporter();
    const s = fakeSession();
    status.set(at('RUNNING'));
    status.attach(s.session);
    s.calls[0].answer(7, 'another token');
    expect(s.calls).toHaveLength(1);
    status.set(at('CONFIG_REFUSED', 'x'));
    expect(states(s.calls)).toEqual(['RUNNING', 'CONFIG_REFUSED']);
    expect(above()).toEqual([]);
  });

  it('any other failure is retried with backoff while the session lives, at debug level', () => {
    vi.useFakeTimers();
    const { status, records, above } = reporter();
    const s = fakeSession();
    status.set(at('RUNNING'));
    status.attach(s.session);
    s.calls[0].answer(14, 'connection reset');
    expect(s.calls).toHaveLength(1);
    vi.advanceTimersByTime(500);
    expect(s.calls).toHaveLength(2);
    s.calls[1].answer(4, 'deadline');
    vi.advanceTimersByTime(1000);
    expect(s.calls).toHaveLength(3);
    s.calls[2].answer(13, 'bug');
    s.end();
    vi.advanceTimersByTime(60_000);
    expect(s.calls).toHaveLength(3);
    expect(records.filter((r) => r.message.includes('retrying'))).toHaveLength(3);
    expect(above()).toEqual([]);
  });

  it('a client that throws at the call (a channel shut down under us) is a failure like any other, not an exception', () => {
    vi.useFakeTimers();
    const { status, above } = reporter();
    const s = fakeSession();
    let throws = true;
    const real = s.session.client.makeUnaryRequest;
    (s.session.client as unknown as { makeUnaryRequest: unknown }).makeUnaryRequest = (...args: unknown[]) => {
      if (throws) throw new Error('Channel has been shut down');
      return (real as (...a: unknown[]) => unknown)(...args);
    };
    status.set(at('RUNNING'));
    expect(() => status.attach(s.session)).not.toThrow();
    throws = false;
    vi.advanceTimersByTime(500);
    expect(states(s.calls)).toEqual(['RUNNING']);
    expect(above()).toEqual([]);
  });
});

describe('StatusReporter with CONFIG_STATUS', () => {
  it('sends the dynamic vars through ReportConfig (never a value); a server without it is asked once per session', () => {
    const { logger, records } = recordingLogger();
    const reporter = new StatusReporter({ instanceId: 'I1', logger, random: () => 0, rpc: CONFIG_STATUS });
    const calls: Array<{ path: string; request: unknown; cb: (err: unknown) => void }> = [];
    const client = {
      makeUnaryRequest: (path: string, _s: unknown, _d: unknown, request: unknown, _m: unknown, _o: unknown, cb: (err: unknown) => void) => {
        calls.push({ path, request, cb });
        return { cancel() {} };
      },
    };
    const { session } = sessionOn(client);
    reporter.attach(session);
    reporter.set([
      { name: 'A', source: 'vault', ok: true, message: '', resolvedAt: 1_700_000_000_500 },
      { name: 'B', source: 'null', ok: false, message: 'no value for config_key "x"' },
    ]);
    expect(calls.map((c) => c.path)).toEqual(['/waypoint_entrypoint.status.v1.InstanceStatus/ReportConfig']);
    expect(calls[0].request).toEqual({
      instance_id: 'I1',
      vars: [
        { name: 'A', source: 'vault', ok: true, message: '', resolved_at: { seconds: '1700000000', nanos: 500_000_000 } },
        { name: 'B', source: 'null', ok: false, message: 'no value for config_key "x"' },
      ],
    });
    calls[0].cb(Object.assign(new Error('unimplemented'), { code: 12, details: 'unimplemented' }));
    reporter.set([{ name: 'A', source: 'vault', ok: true, message: '' }]);
    expect(calls).toHaveLength(1);
    expect(records.map((r) => r.message)).toContain('the server has no instance status service; not reporting the dynamic config status on this connection');
    expect(records.every((r) => r.level === 'debug')).toBe(true);
  });
});
