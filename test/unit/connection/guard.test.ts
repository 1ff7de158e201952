// guard.ts: a stream's handler that throws inside grpc-js's dispatch (emit, or a call's callback)
// drops that stream and is reported once; nothing else about the client changes.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { guardClient } from '../../../src/connection/guard.js';
import type { WaypointClient } from '../../../src/protocol/generated/hashicorp/waypoint/Waypoint.js';

class FakeCall extends EventEmitter {
  cancelled = 0;
  cancel(): void {
    this.cancelled++;
  }
}

/** Just the shapes of a grpc-js client that the guard sees. */
function fakeClient() {
  const made: { call?: FakeCall; callback?: (err: Error | null) => void; serialize?: unknown } = {};
  const client = {
    label: 'plain value',
    EntrypointExecStream() {
      made.call = new FakeCall();
      return made.call;
    },
    EntrypointLogStream(_md: unknown, callback: (err: Error | null) => void) {
      made.call = new FakeCall();
      made.callback = callback;
      return made.call;
    },
    makeBidiStreamRequest(_path: string, serialize: unknown) {
      made.serialize = serialize;
      made.call = new FakeCall();
      return made.call;
    },
    getChannel() {
      return { channel: true };
    },
  };
  return { client, made };
}

function guarded() {
  const { client, made } = fakeClient();
  const faults: Array<{ error: unknown; stream: string }> = [];
  const g = guardClient(client as unknown as WaypointClient, (error, stream) => faults.push({ error, stream })) as unknown as typeof client;
  return { g, made, faults };
}

describe('guardClient', () => {
  it('a listener that throws: reported once with its stream, the call cancelled, emit does not throw', () => {
    const { g, made, faults } = guarded();
    const call = g.EntrypointExecStream() as FakeCall;
    expect(call).toBe(made.call);
    const seen: unknown[] = [];
    call.on('data', (m) => {
      seen.push(m);
      throw new Error('handler bug');
    });
    expect(() => call.emit('data', 1)).not.toThrow();
    expect(() => call.emit('data', 2)).not.toThrow();
    expect(seen).toEqual([1, 2]);
    expect(faults).toHaveLength(1);
    expect(faults[0].stream).toBe('EntrypointExecStream');
    expect((faults[0].error as Error).message).toBe('handler bug');
    expect(call.cancelled).toBe(1);
  });

  it("a call's callback that throws is a fault of that stream", () => {
    const { g, made, faults } = guarded();
    const call = g.EntrypointLogStream({}, () => {
      throw new Error('callback bug');
    }) as FakeCall;
    expect(() => made.callback!(null)).not.toThrow();
    expect(faults.map((f) => f.stream)).toEqual(['EntrypointLogStream']);
    expect(call.cancelled).toBe(1);
  });

  it('make*Request: named by its path; the serializer is left to grpc-js', () => {
    const { g, made, faults } = guarded();
    const serialize = () => {
      throw new Error('cannot encode');
    };
    const call = g.makeBidiStreamRequest('/waypoint_entrypoint.tunnel.v1.Tunnel/Connect', serialize) as FakeCall;
    expect(made.serialize).toBe(serialize);
    call.on('data', () => {
      throw new Error('x');
    });
    call.emit('data', {});
    expect(faults.map((f) => f.stream)).toEqual(['Connect']);
  });

  it('listeners that do not throw, other methods and plain properties are untouched', () => {
    const { g, faults } = guarded();
    const call = g.EntrypointExecStream() as FakeCall;
    let got: unknown;
    call.on('data', (m) => (got = m));
    expect(call.emit('data', 'ok')).toBe(true);
    expect(call.emit('nobody-listens')).toBe(false);
    expect(got).toBe('ok');
    expect(g.getChannel()).toEqual({ channel: true });
    expect(g.label).toBe('plain value');
    expect(faults).toEqual([]);
    expect(call.cancelled).toBe(0);
  });
});
