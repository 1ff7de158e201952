// Fault isolation at the point of dispatch. Every stream the connected parts open (logs, exec,
// URL registration and connections) is opened on the session's client, and grpc-js delivers
// each of its messages and its end by calling the stream's emit(), and its unary answer by
// calling the callback given to it. An exception thrown there by a handler (a bug, or input no
// one foresaw) would escape into grpc-js and end the process, the app with it. The guarded
// client wraps both, so that such an exception drops that one stream (its owner sees it
// cancelled and retries as it would after any lost stream) and is reported once; the app and
// the other streams are untouched. A future handler is covered without a line of its own.
import type { WaypointClient } from '../protocol/generated/hashicorp/waypoint/Waypoint.js';

/** Called once per stream whose handler threw; `stream` names the method. */
export type StreamFault = (error: unknown, stream: string) => void;

interface Call {
  emit(event: string | symbol, ...args: unknown[]): boolean;
  cancel(): void;
}

function isCall(value: unknown): value is Call {
  const v = value as Partial<Call> | null;
  return typeof v === 'object' && v !== null && typeof v.emit === 'function' && typeof v.cancel === 'function';
}

/** The method a call is for: `makeBidiStreamRequest(path, …)` names it by its path. */
function methodName(name: string, args: unknown[]): string {
  if (name.startsWith('make') && typeof args[0] === 'string') return args[0].split('/').pop() || name;
  return name;
}

/** A client whose calls report (and drop) the exceptions of their listeners and callbacks. */
export function guardClient(client: WaypointClient, onFault: StreamFault): WaypointClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        const stream = methodName(property, args);
        let call: Call | undefined;
        let faulted = false;
        const fault = (error: unknown) => {
          // One report per stream: the cancel that follows may make later listeners throw too.
          if (faulted) return;
          faulted = true;
          onFault(error, stream);
          try {
            call?.cancel();
          } catch {
            // already over
          }
        };
        // The callback (a unary or client-streaming call's answer) runs inside grpc-js too. It is
        // the last argument; make*Request's (de)serializers (arguments 1, 2) are left alone: their
        // exceptions are grpc-js's to turn into a status.
        const last = args.length - 1;
        const guardedArgs = args.map((arg, i) =>
          typeof arg === 'function' && i === last && !(property.startsWith('make') && i < 3)
            ? guardFunction(arg as (...a: unknown[]) => unknown, fault)
            : arg,
        );
        const result = (value as (...a: unknown[]) => unknown).apply(target, guardedArgs);
        if (isCall(result)) {
          call = result;
          guardEmit(result, fault);
        }
        return result;
      };
    },
  });
}

function guardFunction(fn: (...args: unknown[]) => unknown, fault: (error: unknown) => void): (...args: unknown[]) => unknown {
  return function (this: unknown, ...args: unknown[]) {
    try {
      return fn.apply(this, args);
    } catch (err) {
      fault(err);
      return undefined;
    }
  };
}

/** Listeners run inside emit(): one that throws ends the stream instead of the process. */
export function guardEmit(call: Call, fault: (error: unknown) => void): void {
  const emit = call.emit;
  call.emit = function (this: Call, event: string | symbol, ...args: unknown[]): boolean {
    try {
      return emit.call(this, event, ...args);
    } catch (err) {
      fault(err);
      return true;
    }
  };
}
