// The web console in a real browser (Debian's chromium through playwright-core) against the
// real server and real entrypoints on 127.0.0.1: sign-in, instances live, logs, config, the
// terminal, sign-out. Every page is checked for CSP violations (the server sends the strict
// policy; the page must need nothing it forbids). Screenshots: test-artifacts/console/.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closePages, consoleUrl, launchBrowser, newPage, shot, signIn, type TestPage, terminalText } from '../../../helpers/browser.js';
import { cleanEnv, killAll, type Running, start, waitFor, withDeadline } from '../../../helpers/run.js';
import { TEST_STORE } from '../../../helpers/store.js';
import { startServer, stopServers, type TestServer } from '../../../helpers/server.js';

/** The app: says its GREETING once, then prints each line written to its FIFO. */
const APP = ['sh', '-c', 'echo "GREETING=$GREETING"; while :; do cat "$FIFO"; done'];

let browser: Browser;
let dir: string;
const pages: TestPage[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-console-browser-'));
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  // Whatever the test did, no page broke the CSP, threw, or asked anything of another host.
  const seen = await Promise.all(pages.splice(0).map(async (p) => ({ violations: p.isClosed() ? [] : await p.violations(), errors: p.errors, foreign: p.foreign })));
  await closePages();
  killAll();
  await stopServers();
  for (const s of seen) expect(s).toEqual({ violations: [], errors: [], foreign: [] });
});

async function page(viewport?: { width: number; height: number }): Promise<TestPage> {
  const p = await newPage(browser, viewport);
  pages.push(p);
  return p;
}

interface Entrypoint {
  r: Running;
  app: string;
  fifo: string;
  /** Writes a line for the app to print. */
  say(line: string): void;
}

let fifos = 0;
async function launch(server: TestServer, app = 'shop'): Promise<Entrypoint> {
  const { deploymentId, inviteToken } = await server.createDeployment(app);
  const fifo = path.join(dir, `fifo-${++fifos}`);
  execFileSync('mkfifo', [fifo]);
  const r = start(APP, {
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: server.addr,
      WAYPOINT_DEPLOYMENT_ID: deploymentId,
      WAYPOINT_CEB_INVITE_TOKEN: inviteToken,
      WAYPOINT_CEB_STOP_TIMEOUT: '2s',
      FIFO: fifo,
      // The terminal's default command is the instance's $SHELL: bash, for its line editing.
      SHELL: '/bin/bash',
      PS1: '$ ',
    }),
    cwd: dir,
  });
  await r.waitForOutput('GREETING=');
  await waitFor(async () => (await server.instances(app)).some((i) => i.deployment_id === deploymentId), { what: () => `an instance of ${app} registered` });
  return { r, app, fifo, say: (line) => writeFileSync(fifo, `${line}\n`) };
}

// Real processes and a real browser on a machine that may be busy: room beyond the default 30 s.
describe('the console in a browser', { timeout: 60_000 }, () => {
  it('signs in with the operator token pasted once: a wrong one is refused, the right one opens the instances page, nothing of it kept by the page', async () => {
    const server = await startServer();
    const p = await page();
    const scripts: { url: string; encoding?: string; cache?: string; bytes: number }[] = [];
    p.on('response', async (r) => {
      if (!r.url().endsWith('.js')) return;
      const sizes = await r.request().sizes();
      scripts.push({ url: new URL(r.url()).pathname, encoding: r.headers()['content-encoding'], cache: r.headers()['cache-control'], bytes: sizes.responseBodySize });
    });
    const res = await p.goto(consoleUrl(server));
    // The strict policy is what the pages run under (so "no violation" below means something).
    const csp = res?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    await p.getByLabel('Operator token').fill('wp1.not-a-token.at-all');
    await p.getByLabel('Operator token').press('Enter');
    await expect.poll(() => p.getByRole('alert').innerText()).toMatch(/\w/);
    await shot(p, 'signin-refused');
    await signIn(p, consoleUrl(server), server.operatorToken);
    await p.getByRole('heading', { name: 'Instances' }).waitFor();
    expect(new URL(p.url()).pathname).toBe('/');
    expect(p.url()).not.toContain(server.operatorToken);
    const storage = await p.evaluate<string>('JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })');
    expect(storage).toBe('{}{}');
    expect(await p.locator('#token').count()).toBe(0);
    const [cookie] = await p.context().cookies();
    expect(cookie).toMatchObject({ name: 'wp_console', httpOnly: true, sameSite: 'Strict' });
    expect(await p.evaluate<string>('document.cookie')).toBe('');
    await shot(p, 'signed-in');
    // The first page's JavaScript: one hashed module (fetched on each of the two visits; the
    // terminal's chunk waits for the terminal), brotli-compressed, cached for good, < 250 KB.
    expect(new Set(scripts.map((x) => x.url)).size).toBe(1);
    expect(scripts[0].url).toMatch(/^\/assets\/main-[A-Z0-9]+\.js$/);
    expect(scripts[0]).toMatchObject({ encoding: 'br', cache: 'public, max-age=31536000, immutable' });
    expect(scripts[0].bytes).toBeLessThan(250 * 1024);
  });

  it('shows an entrypoint that connects on the instances page without a reload, and as gone after it stops', async () => {
    const server = await startServer();
    const p = await page();
    await signIn(p, consoleUrl(server, '/instances'), server.operatorToken);
    await p.evaluate('window.__noReload = true');
    const ep = await launch(server);
    const [inst] = await server.instances(ep.app);
    const row = p.locator(`tr[data-instance="${inst.id}"]`);
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 10_000 }).toBe('connected');
    // Exec enabled, its URL (once its tunnel registers) and the log lines it sends, all live.
    expect(await row.locator('td[data-label="Exec"]').innerText()).toBe('yes');
    await expect.poll(() => row.locator('td[data-label="URL"] a').innerText(), { timeout: 10_000 }).toBe(`http://${ep.app}--${inst.deployment_id.toLowerCase()}.localhost:${server.httpPort}/`);
    const logLines = async () => Number(await row.locator('td[data-label="Log lines"]').innerText());
    await expect.poll(logLines, { timeout: 10_000 }).toBeGreaterThan(0);
    const counted = await logLines();
    ep.say('one more line');
    await expect.poll(logLines, { timeout: 10_000 }).toBeGreaterThan(counted);
    await shot(p, 'instances-connected');
    ep.r.proc.kill('SIGTERM');
    await withDeadline(ep.r.exited, 10_000, 'the entrypoint to exit');
    // Disconnected first (its stream closed under 5 s ago), then gone: both without a reload.
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 15_000 }).toBe('gone');
    expect(await row.locator('.badge').innerText()).toBe('gone');
    expect(await p.evaluate<boolean>('window.__noReload === true')).toBe(true);
    await shot(p, 'instances-gone');
    // A phone-sized window: one card per instance, nothing wider than the screen.
    await p.setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => p.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot(p, 'instances-phone');
  });

  it('shows a line the app writes on the logs page within a second, and keeps it there from the history once the instance is gone', async () => {
    const server = await startServer();
    const ep = await launch(server);
    const p = await page();
    await signIn(p, consoleUrl(server, `/logs?app=${ep.app}`), server.operatorToken);
    await p.getByText('Following').waitFor({ timeout: 10_000 });
    const marker = `marker-${Date.now()}`;
    ep.say(marker);
    // The bound: on the page within 1 s of the app writing it.
    await p.locator('.log-row', { hasText: marker }).waitFor({ timeout: 1000 });
    await shot(p, 'logs-live');
    ep.r.proc.kill('SIGTERM');
    await withDeadline(ep.r.exited, 10_000, 'the entrypoint to exit');
    await p.reload();
    await p.locator('.log-row', { hasText: marker }).waitFor({ timeout: 10_000 });
    // The text filter keeps it and hides the rest.
    await p.getByLabel('Text').fill(marker);
    await expect.poll(() => p.locator('.log-row').count()).toBe(1);
    await shot(p, 'logs-history-filtered');
    // Download: what the filter shows, as text.
    const [download] = await Promise.all([p.waitForEvent('download'), p.getByRole('button', { name: 'Download' }).click()]);
    const file = await download.path();
    expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`^\\S+Z ${ep.app} \\S+ app(/stdout)? ${marker}\\n$`));
    // The source filter (the server's): the entrypoint's own lines only, then the app's again.
    await p.getByLabel('Text').fill('');
    await p.getByLabel('Source').selectOption('entrypoint');
    const rows = async () => ({ app: await p.locator('.log-row.app').count(), entrypoint: await p.locator('.log-row.entrypoint').count() });
    await expect.poll(async () => (await rows()).app, { timeout: 10_000 }).toBe(0);
    await expect.poll(async () => (await rows()).entrypoint, { timeout: 10_000 }).toBeGreaterThan(0);
    expect((await rows()).app).toBe(0);
    expect(new URL(p.url()).searchParams.get('source')).toBe('entrypoint');
    await p.getByLabel('Source').selectOption('app');
    await p.locator('.log-row.app', { hasText: marker }).waitFor({ timeout: 10_000 });
    expect((await rows()).entrypoint).toBe(0);
  });

  it('a config change made on the page restarts the app with the new value; a refused name says why; an internal value is masked and unset; a file var shows its content; a dynamic var its source and settings, masked', async () => {
    const server = await startServer();
    const ep = await launch(server);
    expect(ep.r.stdout().toString()).toContain('GREETING=\n');
    const p = await page();
    await signIn(p, consoleUrl(server, `/config?app=${ep.app}`), server.operatorToken);
    // What the instance runs with: its app started with its config, nothing pending.
    const [inst] = await server.instances(ep.app);
    const runsWith = p.locator(`tr[data-instance="${inst.id}"]`);
    const restartedAt = async () => Number((await runsWith.getAttribute('data-restarted-at')) || 0);
    await expect.poll(restartedAt, { timeout: 10_000 }).toBeGreaterThan(0);
    const before = await restartedAt();
    expect(await runsWith.locator('td').nth(3).innerText()).toBe('no');
    await p.getByLabel('Name').fill('GREETING');
    await p.getByLabel('Value').fill('hello from the page');
    await p.getByLabel('Value').press('Enter');
    await p.locator('tr[data-var="GREETING"]', { hasText: 'hello from the page' }).waitFor({ timeout: 10_000 });
    await ep.r.waitForOutput('GREETING=hello from the page', { timeoutMs: 15_000 });
    const exec = await server.ctl(['exec', '--app', ep.app, '-T', '--', 'sh', '-c', 'echo "$GREETING"']);
    expect(exec.stdout.toString()).toBe('hello from the page\n');
    // The restart shows on the page, live: restarted at moves on, nothing pending.
    await expect.poll(restartedAt, { timeout: 10_000 }).toBeGreaterThan(before);
    expect(await runsWith.locator('td').nth(3).innerText()).toBe('no');
    expect(await runsWith.locator('td').nth(4).innerText()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await shot(p, 'config-set');

    // A name the rules refuse: the server's reason on the page, nothing set.
    await p.getByLabel('Name').fill('1-BAD NAME');
    await p.getByLabel('Value').fill('x');
    await p.getByLabel('Value').press('Enter');
    await expect.poll(() => p.getByRole('alert').innerText(), { timeout: 10_000 }).toMatch(/1-BAD NAME/);
    expect(await p.locator('tr[data-var]').count()).toBe(1);
    await shot(p, 'config-refused');

    // Internal: set, shown masked; then unset from the page.
    await p.getByLabel('Kind').selectOption('internal');
    await p.getByLabel('Name').fill('DB_PASS');
    await p.getByLabel('Value').fill('s3cret');
    await p.getByRole('button', { name: 'Set', exact: true }).click();
    const secret = p.locator('tr[data-var="DB_PASS"]');
    await expect.poll(() => secret.locator('td.value').innerText(), { timeout: 10_000 }).toBe('hidden (internal)');
    expect(await p.content()).not.toContain('s3cret');
    await shot(p, 'config-internal');
    await p.getByRole('button', { name: 'Unset DB_PASS' }).click();
    await expect.poll(() => secret.count(), { timeout: 10_000 }).toBe(0);

    // A file: a path and its content (several lines), shown as they are.
    await p.getByLabel('Kind').selectOption('file');
    await p.getByLabel('Path').fill('conf/app.ini');
    await p.getByLabel('Content').fill('[main]\nkey=value\n');
    await p.getByRole('button', { name: 'Set', exact: true }).click();
    await expect.poll(() => p.locator('tr[data-var="conf/app.ini"] td.value pre').textContent(), { timeout: 10_000 }).toBe('[main]\nkey=value\n');
    expect(await p.locator('tr[data-var="conf/app.ini"] td').nth(1).innerText()).toBe('file');

    // A dynamic var (set with the ctl): its source and settings, a secret among them masked.
    const set = await server.ctl(['config', 'set', '--app', ep.app, '--dynamic', 'null', 'DYN', 'static_value=v', 'token=hvs.pageMustNotShowThis']);
    expect(set.code).toBe(0);
    await p.reload();
    await expect.poll(() => p.locator('tr[data-var="DYN"] td.value').innerText(), { timeout: 10_000 }).toBe('dynamic: null static_value=v token=hvs.…');
    expect(await p.content()).not.toContain('pageMustNotShowThis');
  });

  it('the terminal: a real shell with raw keys — 42, arrow-up, Tab completion, Ctrl-C, resize, exit status', async () => {
    const server = await startServer();
    const ep = await launch(server);
    const p = await page();
    await signIn(p, consoleUrl(server, `/terminal?app=${ep.app}`), server.operatorToken);
    await p.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => p.getByTestId('exec-status').innerText(), { timeout: 10_000 }).toMatch(/Running on instance/);
    const term = p.locator('.xterm-helper-textarea');
    await term.focus();
    const screen = () => terminalText(p);
    const lines = async (re: RegExp) => (await screen()).split('\n').filter((l) => re.test(l.trim())).length;

    await p.keyboard.type('echo $((6*7))');
    await p.keyboard.press('Enter');
    await expect.poll(() => lines(/^42$/), { timeout: 10_000 }).toBe(1);
    await p.keyboard.press('ArrowUp');
    await p.keyboard.press('Enter');
    await expect.poll(() => lines(/^42$/), { timeout: 10_000 }).toBe(2);
    await shot(p, 'terminal-42');

    // Tab completes (the shell's cwd is the app's: dir).
    writeFileSync(path.join(dir, 'tab-completion-target.txt'), '');
    await p.keyboard.type('echo tab-comp');
    await p.keyboard.press('Tab');
    await p.keyboard.press('Enter');
    await expect.poll(() => lines(/^tab-completion-target\.txt$/), { timeout: 10_000 }).toBe(1);

    await p.keyboard.type('sleep 100; echo not-interrupted');
    await p.keyboard.press('Enter');
    // The command on the screen (the shell may draw its line again as the keys come in: at least once).
    await expect.poll(() => lines(/sleep 100; echo not-interrupted$/)).toBeGreaterThanOrEqual(1);
    await p.keyboard.press('Control+C');
    await p.keyboard.type('echo status=$?');
    await p.keyboard.press('Enter');
    await expect.poll(() => lines(/^status=130$/), { timeout: 10_000 }).toBe(1);
    expect(await screen()).not.toContain('\nnot-interrupted');

    const size = async () => {
      await p.keyboard.type('stty size');
      await p.keyboard.press('Enter');
      let last = '';
      await expect
        .poll(async () => {
          const m = [...(await screen()).matchAll(/^(\d+) (\d+)\s*$/gm)];
          last = m.length ? m[m.length - 1][0].trim() : '';
          return m.length;
        })
        .toBeGreaterThan(0);
      return last;
    };
    const big = await size();
    await p.setViewportSize({ width: 700, height: 560 });
    await p.keyboard.type('clear');
    await p.keyboard.press('Enter');
    await expect.poll(() => lines(/^\d+ \d+$/), { timeout: 10_000 }).toBe(0);
    const small = await size();
    expect(small).not.toBe(big);
    const [bigRows, bigCols] = big.split(' ').map(Number);
    const [smallRows, smallCols] = small.split(' ').map(Number);
    expect(smallRows).toBeLessThan(bigRows);
    expect(smallCols).toBeLessThan(bigCols);
    await shot(p, 'terminal-resized');

    await p.keyboard.type('exit 3');
    await p.keyboard.press('Enter');
    await expect.poll(() => p.getByTestId('exec-status').innerText(), { timeout: 10_000 }).toMatch(/^Exited with status 3 · instance \w+$/);
    await shot(p, 'terminal-exited');
  });

  it('runs a one-shot command in the chosen instance with stdout and stderr apart and its exit status, then finds it in the exec history; the URLs page links the app', async () => {
    const server = await startServer();
    const ep = await launch(server);
    // A second instance of the app: the one chosen on the page is the one that runs it (each
    // in turn, so that the server's own pick cannot pass for the choice).
    await launch(server);
    const ids = (await server.instances(ep.app)).map((i) => i.id);
    expect(ids).toHaveLength(2);
    const p = await page({ width: 390, height: 844 });
    await signIn(p, consoleUrl(server, `/terminal?app=${ep.app}`), server.operatorToken);
    for (const chosen of ids) {
      await p.locator('#exec-instance option', { hasText: chosen }).waitFor({ state: 'attached', timeout: 10_000 });
      await p.getByLabel('Instance').selectOption(chosen);
      await p.getByLabel('One-shot').check();
      await p.getByLabel('Command').fill(`sh -c 'echo to-out; echo to-err >&2; exit 4'`);
      await p.getByLabel('Command').press('Enter');
      await expect.poll(() => p.getByTestId('exec-status').innerText(), { timeout: 10_000 }).toBe(`Exited with status 4 · instance ${chosen}`);
    }
    expect(await p.getByTestId('stdout').innerText()).toBe('to-out\n');
    expect(await p.getByTestId('stderr').innerText()).toBe('to-err\n');
    await shot(p, 'oneshot-phone');
    // Standard input, then its end: the command reads it all and exits.
    await p.getByLabel('Command').fill('tr a-z A-Z');
    await p.getByLabel('Standard input').fill('piped in\n');
    await p.getByRole('button', { name: 'Run again' }).click();
    await expect.poll(() => p.getByTestId('exec-status').innerText(), { timeout: 10_000 }).toMatch(/^Exited with status 0 · /);
    expect(await p.getByTestId('stdout').innerText()).toBe('PIPED IN\n');
    // It is in the exec history (the audit trail), and the app's URL is on the URLs page.
    await p.getByRole('link', { name: 'Exec history' }).click();
    const rows = p.locator('tr[data-session]', { hasText: 'echo to-out; echo to-err >&2; exit 4' });
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    await p.locator('tr[data-session]', { hasText: 'tr a-z A-Z' }).waitFor();
    for (const row of await rows.all()) {
      expect(await row.locator('td[data-label="Exit"]').innerText()).toBe('4');
      expect(await row.locator('td[data-label="TTY"]').innerText()).toBe('no');
    }
    // Newest first: the second choice, then the first.
    expect(await rows.locator('td[data-label="Instance"]').allInnerTexts()).toEqual([...ids].reverse());
    await shot(p, 'exec-history-phone');
    await p.getByRole('link', { name: 'URLs' }).click();
    const link = p.locator('a', { hasText: new RegExp(`^http://${ep.app}\\.localhost:\\d+/$`) });
    await link.waitFor({ timeout: 10_000 });
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    await shot(p, 'urls-phone');
  });

  it('works with the keyboard: Tab goes skip link, then the pages in order, each focus visible; Enter follows a link', async () => {
    const server = await startServer();
    const p = await page();
    await p.goto(consoleUrl(server));
    // The token field has the focus as soon as the page shows it; Enter submits.
    await expect.poll(() => p.evaluate<string>('document.activeElement.id')).toBe('token');
    await p.keyboard.type(server.operatorToken);
    await p.keyboard.press('Enter');
    await p.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: 10_000 });
    const focused = () =>
      p.evaluate<{ text: string; outline: string }>(
        '({ text: document.activeElement.textContent.trim(), outline: getComputedStyle(document.activeElement).outlineStyle })',
      );
    const order: string[] = [];
    for (let i = 0; i < 8; i++) {
      await p.keyboard.press('Tab');
      const f = await focused();
      expect(f.outline, `focus ring on ${f.text}`).not.toBe('none');
      order.push(f.text);
    }
    expect(order).toEqual(['Skip to content', 'Instances', 'Logs', 'Terminal', 'Config', 'Exec history', 'URLs', 'Sign out']);
    await p.keyboard.press('Shift+Tab');
    await p.keyboard.press('Shift+Tab');
    await p.keyboard.press('Shift+Tab');
    await shot(p, 'keyboard-focus');
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Config' }).waitFor();
    expect(new URL(p.url()).pathname).toBe('/config');
  });

  it.skipIf(TEST_STORE === 'postgres')('a server restart (sessions live in its memory) brings the open page back to the sign-in page, and signing in again works', async () => {
    const server = await startServer();
    const p = await page();
    await signIn(p, consoleUrl(server, '/instances'), server.operatorToken);
    await p.getByText('Live ·').waitFor({ timeout: 10_000 });
    await server.restart();
    await p.getByLabel('Operator token').waitFor({ timeout: 20_000 });
    await shot(p, 'server-restarted');
    await p.getByLabel('Operator token').fill(server.operatorToken);
    await p.getByLabel('Operator token').press('Enter');
    await p.getByText('Live ·').waitFor({ timeout: 10_000 });
  });

  it.skipIf(TEST_STORE !== 'postgres')('a server restart keeps the sessions it keeps in the database: the open page carries on signed in', async () => {
    const server = await startServer();
    const p = await page();
    await signIn(p, consoleUrl(server, '/instances'), server.operatorToken);
    await p.getByText('Live ·').waitFor({ timeout: 10_000 });
    const [cookie] = await p.context().cookies();
    await server.restart();
    const res = await fetch(consoleUrl(server, '/api/v1/session'), { headers: { Cookie: `wp_console=${cookie.value}` } });
    expect(res.status).toBe(200);
    await p.reload();
    await p.getByText('Live ·').waitFor({ timeout: 10_000 });
    expect(await p.getByLabel('Operator token').count()).toBe(0);
  });

  it('signs out: another tab shows the sign-in page at once, a reload too, and the old session cookie is refused', async () => {
    const server = await startServer();
    const p = await page();
    await signIn(p, consoleUrl(server, '/urls'), server.operatorToken);
    const [cookie] = await p.context().cookies();
    // A second tab of the same browser, following the instances: it is signed out too, at once.
    const other = await p.context().newPage();
    await other.goto(consoleUrl(server, '/instances'));
    await other.getByText('Live ·').waitFor({ timeout: 10_000 });
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.getByLabel('Operator token').waitFor();
    await other.getByLabel('Operator token').waitFor({ timeout: 10_000 });
    await p.reload();
    await p.getByLabel('Operator token').waitFor();
    await shot(p, 'signed-out');
    // The cookie from before, sent again (as a thief would): refused.
    const res = await fetch(consoleUrl(server, '/api/v1/instances'), { headers: { Cookie: `wp_console=${cookie.value}` } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toMatch(/\w/);
    await p.context().addCookies([cookie]);
    await p.reload();
    await p.getByLabel('Operator token').waitFor();
  });
});
