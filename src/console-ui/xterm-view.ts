// The terminal (xterm.js), in a chunk of its own loaded when the terminal page starts one: the
// first page stays small. Resizes follow the element (FitAddon on each ResizeObserver change)
// and go to the command as `resize` messages through onResize. Its CSS is in styles.css: a lazy
// chunk's CSS would not be loaded by itself.
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';

/**
 * xterm.js puts its computed CSS (cell sizes, theme colours, scrollbar) in <style> elements it
 * creates, which the console's CSP (style-src 'self') blocks, and reports, even empty. We give it
 * instead hidden elements whose text goes into a constructed stylesheet adopted by the document:
 * the CSSOM, which CSP does not govern. The renderer creates its <style>s through the
 * `documentOverride` option's document (a proxy of the real one) whenever it needs them; the
 * viewport's is made with the real document whatever the option says (xterm 6 reads
 * `this._document ?? typeof window …` as `(this._document ?? …) ? window.document : null`), so
 * document.createElement is also shimmed while term.open() runs, and only then.
 */
function makeStyle(): HTMLElement {
  const el = document.createElement('span');
  el.hidden = true;
  el.dataset.xtermStyle = '';
  const sheet = new CSSStyleSheet();
  let text = '';
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  Object.defineProperty(el, 'textContent', {
    get: () => text,
    set: (v: string | null) => {
      text = v ?? '';
      sheet.replaceSync(text);
    },
  });
  const remove = el.remove.bind(el);
  el.remove = () => {
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
    remove();
  };
  return el;
}

const realCreateElement = document.createElement.bind(document);
const shimmedCreateElement = (tag: string, opts?: ElementCreationOptions): HTMLElement =>
  tag.toLowerCase() === 'style' ? makeStyle() : realCreateElement(tag, opts);

function cspSafeDocument(): Document {
  return new Proxy(document, {
    get(target, prop) {
      if (prop === 'createElement') return shimmedCreateElement;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function withStyleShim<T>(f: () => T): T {
  const d = document as { createElement: unknown };
  d.createElement = shimmedCreateElement;
  try {
    return f();
  } finally {
    delete d.createElement;
  }
}

export interface TermView {
  term: Terminal;
  cols: number;
  rows: number;
  write(data: Uint8Array | string): void;
  focus(): void;
  dispose(): void;
}

export function mountTerminal(parent: HTMLElement, onData: (data: string) => void, onResize: (cols: number, rows: number) => void): TermView {
  const term = new Terminal({
    documentOverride: cspSafeDocument(),
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
    fontSize: 14,
    scrollback: 5000,
    theme: { background: '#101418', foreground: '#e6e6e6' },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  withStyleShim(() => {
    term.open(parent);
    fit.fit();
  });
  term.onData(onData);
  term.onResize(({ cols, rows }) => onResize(cols, rows));
  let frame = 0;
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => fit.fit());
  });
  ro.observe(parent);
  return {
    term,
    get cols() {
      return term.cols;
    },
    get rows() {
      return term.rows;
    },
    write: (data) => term.write(data),
    focus: () => term.focus(),
    dispose: () => {
      ro.disconnect();
      cancelAnimationFrame(frame);
      term.dispose();
    },
  };
}
