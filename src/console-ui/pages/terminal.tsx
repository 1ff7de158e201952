// Terminal: a command in a chosen instance (or the app's least busy one, which the server picks
// when none is named) — in a real terminal (xterm.js: raw keys, resize follows the window, the
// exit status shown), or one-shot with stdout and stderr apart. Empty command: $SHELL, else sh.
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson } from '../api.js';
import { splitArgs } from '../args.js';
import { openExec } from '../exec-client.js';
import { href } from '../route.js';
import type { Instance } from '../types.js';
import { Choice, ErrorLine, message, navigate, useApps, useFillHeight } from '../ui.js';

interface Run {
  n: number;
  app: string;
  instance: string;
  args: string[];
  tty: boolean;
  stdin: string;
}

export function TerminalPage({ query }: { query: URLSearchParams }): JSX.Element {
  const { apps, refresh: refreshApps } = useApps();
  const app = query.get('app') ?? (apps.length === 1 ? apps[0].name : '');
  const instance = query.get('instance') ?? '';
  const [instances, setInstances] = useState<Instance[]>([]);
  const [command, setCommand] = useState('');
  const [tty, setTty] = useState(true);
  const [stdin, setStdin] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [run, setRun] = useState<Run | null>(null);

  useEffect(() => {
    if (!app) return setInstances([]);
    getJson<{ instances: Instance[] }>(`/api/v1/instances?app=${encodeURIComponent(app)}`).then(
      (r) => setInstances(r.instances.filter((i) => i.state === 'connected')),
      (e: unknown) => setError(message(e)),
    );
  }, [app]);

  const submit = (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!app) return setError('Choose an app first.');
    try {
      setRun({ n: (run?.n ?? 0) + 1, app, instance, args: splitArgs(command), tty, stdin });
    } catch (err) {
      setError(message(err));
    }
  };
  const choose = (patch: { app?: string; instance?: string }) => {
    setRun(null);
    navigate(href('terminal', { app, instance, ...patch }), true);
  };

  return (
    <section class="terminal-page">
      <form class="filters" onSubmit={submit}>
        <Choice id="exec-app" onFocus={refreshApps} label="App" value={app} empty="Choose an app" options={apps.map((a) => ({ value: a.name, label: `${a.name} (${a.connected} connected)` }))} onChange={(a) => choose({ app: a, instance: '' })} />
        <Choice id="exec-instance" label="Instance" value={instance} empty="Least busy instance" options={instances.map((i) => ({ value: i.id }))} onChange={(i) => choose({ instance: i })} />
        <label for="exec-command" class="grow">
          <span>Command</span>
          <input id="exec-command" value={command} onInput={(e) => setCommand((e.target as HTMLInputElement).value)} placeholder="empty: the instance's $SHELL, else sh" spellcheck={false} autocomplete="off" />
        </label>
        <fieldset class="mode">
          <legend>Mode</legend>
          <label class="check">
            <input type="radio" name="mode" checked={tty} onChange={() => setTty(true)} />
            <span>Terminal</span>
          </label>
          <label class="check">
            <input type="radio" name="mode" checked={!tty} onChange={() => setTty(false)} />
            <span>One-shot</span>
          </label>
        </fieldset>
        {!tty && (
          <label for="exec-stdin" class="grow">
            <span>Standard input</span>
            <textarea id="exec-stdin" rows={2} value={stdin} onInput={(e) => setStdin((e.target as HTMLTextAreaElement).value)} />
          </label>
        )}
        <button type="submit">{run ? 'Run again' : 'Run'}</button>
      </form>
      <ErrorLine error={error} />
      {run && (run.tty ? <TtySession key={run.n} run={run} /> : <OneShot key={run.n} run={run} />)}
    </section>
  );
}

function statusText(s: { started?: string; exit?: number; error?: string }): string {
  const where = s.started ? ` · instance ${s.started}` : '';
  if (s.error) return `Failed: ${s.error}${where}`;
  if (s.exit !== undefined) return `Exited with status ${s.exit}${where}`;
  if (s.started) return `Running on instance ${s.started}`;
  return 'Starting…';
}

function useExecStatus() {
  const [status, setStatus] = useState<{ started?: string; exit?: number; error?: string }>({});
  return [status, setStatus] as const;
}

function TtySession({ run }: { run: Run }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useExecStatus();
  const stop = useRef<() => void>(() => {});
  useFillHeight(box, 160);

  useEffect(() => {
    let disposed = false;
    let cleanup = () => {};
    import('../xterm-view.js').then(
      ({ mountTerminal }) => {
        if (disposed) return;
        const encoder = new TextEncoder();
        let conn: ReturnType<typeof openExec> | null = null;
        const view = mountTerminal(box.current!, (d) => conn?.send(encoder.encode(d)), (c, r) => conn?.resize(c, r));
        conn = openExec(
          { app: run.app, instance: run.instance || undefined, args: run.args, tty: true, cols: view.cols, rows: view.rows },
          {
            started: (instanceId) => setStatus({ started: instanceId }),
            output: (_s, data) => view.write(data),
            exit: (code) => setStatus((s) => ({ ...s, exit: code })),
            error: (error) => setStatus((s) => ({ ...s, error })),
          },
        );
        view.focus();
        stop.current = () => conn?.close();
        cleanup = () => {
          conn?.close();
          view.dispose();
        };
      },
      (e: unknown) => setStatus({ error: `the terminal could not be loaded (${message(e)}): reload the page` }),
    );
    return () => {
      disposed = true;
      cleanup();
    };
  }, []);

  const running = status.exit === undefined && !status.error;
  return (
    <div class="session">
      <div class="toolbar">
        <p role="status" data-testid="exec-status" class={status.error ? 'error' : ''}>
          {statusText(status)}
        </p>
        {running && (
          <button type="button" onClick={() => stop.current()}>
            Disconnect
          </button>
        )}
      </div>
      <div class="term" ref={box} data-testid="terminal" />
    </div>
  );
}

function OneShot({ run }: { run: Run }): JSX.Element {
  const [status, setStatus] = useExecStatus();
  const [out, setOut] = useState({ stdout: '', stderr: '' });

  useEffect(() => {
    const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    const conn = openExec(
      { app: run.app, instance: run.instance || undefined, args: run.args, tty: false, cols: 80, rows: 24 },
      {
        started: (instanceId) => {
          setStatus({ started: instanceId });
          if (run.stdin) conn.send(run.stdin);
          conn.eof();
        },
        output: (stream, data) => {
          const text = decoders[stream].decode(data, { stream: true });
          setOut((o) => ({ ...o, [stream]: o[stream] + text }));
        },
        exit: (code) => setStatus((s) => ({ ...s, exit: code })),
        error: (error) => setStatus((s) => ({ ...s, error })),
      },
    );
    return () => conn.close();
  }, []);

  return (
    <div class="session oneshot">
      <p role="status" data-testid="exec-status" class={status.error ? 'error' : ''}>
        {statusText(status)}
      </p>
      <div class="streams">
        <figure>
          <figcaption>stdout</figcaption>
          <pre data-testid="stdout" tabIndex={0}>{out.stdout}</pre>
        </figure>
        <figure>
          <figcaption>stderr</figcaption>
          <pre data-testid="stderr" class="stderr" tabIndex={0}>{out.stderr}</pre>
        </figure>
      </div>
    </div>
  );
}
