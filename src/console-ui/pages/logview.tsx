// The logs page's list: only the rows in sight (plus a few) are in the DOM, whatever the number
// of lines kept, so following an app at 10 000 lines/s costs one small render per frame.
import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { timeOfDay } from '../logfmt.js';
import { useFillHeight } from '../ui.js';
import type { LogStore } from '../logstore.js';

/** Must match `.log-row { height }` in styles.css. */
export const ROW_PX = 18;
const OVERSCAN = 10;

// role=log would have screen readers read every line at 10 000 a second: aria-live off.
export function LogView(props: { store: LogStore; version: number; follow: boolean; setFollow: (f: boolean) => void; oneInstance: boolean }): JSX.Element {
  const { store, follow, setFollow } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  useFillHeight(scroller, 160);

  useEffect(() => {
    const el = scroller.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // Following: after each render the newest line is in sight. Not following: the lines in
  // sight stay in place while older ones fall out of the ring above them.
  const seen = useRef({ view: store.view, dropped: store.view.dropped });
  useLayoutEffect(() => {
    const el = scroller.current!;
    const gone = seen.current.view === store.view ? store.view.dropped - seen.current.dropped : 0;
    seen.current = { view: store.view, dropped: store.view.dropped };
    if (follow) el.scrollTop = el.scrollHeight;
    else if (gone > 0) el.scrollTop = Math.max(0, el.scrollTop - gone * ROW_PX);
  });

  const onScroll = () => {
    const el = scroller.current!;
    setTop(el.scrollTop);
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_PX;
    if (atBottom !== follow) setFollow(atBottom);
  };

  const total = store.view.length;
  const scrollTop = follow ? Math.max(0, total * ROW_PX - height) : top;
  const first = Math.max(0, Math.floor(scrollTop / ROW_PX) - OVERSCAN);
  const last = Math.min(total, Math.ceil((scrollTop + height) / ROW_PX) + OVERSCAN);
  const rows = store.view.slice(first, last);

  return (
    <div class="log-scroller" ref={scroller} onScroll={onScroll} tabIndex={0} role="log" aria-live="off" aria-label="Log lines">
      <div class="log-spacer" style={{ height: `${total * ROW_PX}px` }}>
        <div class="log-window" style={{ transform: `translateY(${first * ROW_PX}px)` }}>
          {rows.map((l, k) => (
            // Keyed by slot, not by line: following, each frame's rows update in place.
            <div key={k} class={`log-row ${l.source} ${l.stream ?? ''}`}>
              <span class="t">{timeOfDay(l.timestamp)}</span>
              {!props.oneInstance && (
                <span class="i" title={`${l.app} ${l.instanceId}`}>
                  {l.instanceId.slice(-6)}
                </span>
              )}
              <span class="l">{l.line}</span>
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}
