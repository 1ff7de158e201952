// The instances the server knows, kept up to date by /api/v1/instances/stream (an `instance`
// event whenever one changes, and each current one at connect; `removed` when forgotten).
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api.js';
import { openEvents, type StreamState } from './events.js';
import type { Instance } from './types.js';

export function useLiveInstances(onSignedOut: () => void): { instances: Map<string, Instance>; state: StreamState } {
  const [instances, setInstances] = useState<Map<string, Instance>>(new Map());
  const [state, setState] = useState<StreamState>('connecting');
  useEffect(() => {
    let pending: Map<string, Instance | null> = new Map();
    let frame = 0;
    // Many changes at once (a reconnect's full list) make one render.
    const flush = () => {
      frame = 0;
      const changes = pending;
      pending = new Map();
      setInstances((old) => {
        const next = new Map(old);
        for (const [id, inst] of changes) {
          if (inst) next.set(id, inst);
          else next.delete(id);
        }
        return next;
      });
    };
    const change = (id: string, inst: Instance | null) => {
      pending.set(id, inst);
      if (!frame) frame = requestAnimationFrame(flush);
    };
    // After a reconnect, instances the server forgot meanwhile would linger (no `removed` came
    // while we were away): the list is taken anew, and the stream goes on from there.
    let dropped = false;
    const onState = (st: StreamState) => {
      setState(st);
      if (st === 'retrying') dropped = true;
      else if (st === 'live' && dropped) {
        dropped = false;
        getJson<{ instances: Instance[] }>('/api/v1/instances').then(
          (r) => setInstances(new Map(r.instances.map((i) => [i.id, i]))),
          () => undefined,
        );
      }
    };
    const close = openEvents(
      '/api/v1/instances/stream',
      {
        instance: (data) => {
          const inst = JSON.parse(data) as Instance;
          change(inst.id, inst);
        },
        removed: (data) => change((JSON.parse(data) as { id: string }).id, null),
      },
      onState,
      onSignedOut,
    );
    return () => {
      close();
      cancelAnimationFrame(frame);
    };
  }, []);
  return { instances, state };
}
