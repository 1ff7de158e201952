// A real browser for the console's tests: Debian's chromium (scripts/system-deps.sh) driven by
// playwright-core, never a downloaded browser. One browser per test file (it takes ~0.7 s to
// start here), a fresh context per test (~0.5 s): no cookie or storage leaks between tests.
// Each test saves a screenshot under test-artifacts/console/ (not committed).
//
//   const browser = await launchBrowser();          // beforeAll; closeBrowser() in afterAll
//   const page = await newPage(browser);            // afterEach: closePages()
//   await signIn(page, consoleUrl(server), server.operatorToken);
//   await shot(page, 'instances-live');
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from './run.js';
import type { TestServer } from './server.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'test-artifacts/console');

const contexts = new Set<BrowserContext>();

export async function launchBrowser(): Promise<Browser> {
  // As root, chromium's sandbox cannot start: --no-sandbox (the pages are our own, on 127.0.0.1).
  // Shared memory in /tmp, not /dev/shm, which containers often keep small.
  const args = ['--disable-dev-shm-usage', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/** The console's address on a test server: the HTTP listener, bare host 127.0.0.1. */
export function consoleUrl(server: TestServer, p = '/'): string {
  if (!server.httpPort) throw new Error('the test server has no HTTP listener: start it with http on');
  return `http://127.0.0.1:${server.httpPort}${p}`;
}

export interface TestPage extends Page {
  /** CSP violations the page reported (securitypolicyviolation events), as "directive source:line". */
  violations(): Promise<string[]>;
  /** Uncaught errors of the page's scripts. */
  errors: string[];
  /** Requests the page (or another tab of its context) made to anywhere but the server on 127.0.0.1: none is allowed. */
  foreign: string[];
}

/** Whether a request stays on this machine's server (or in the page: data:, blob:). */
export function isLocalRequest(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'data:' || u.protocol === 'blob:' || ((u.protocol === 'http:' || u.protocol === 'ws:') && (u.hostname === '127.0.0.1' || u.hostname === 'localhost'));
}

export async function newPage(browser: Browser, viewport = { width: 1280, height: 800 }): Promise<TestPage> {
  const context = await browser.newContext({ viewport });
  contexts.add(context);
  // Browser code as strings: this file is type-checked for Node, without the DOM's types.
  await context.addInitScript({
    content: `window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.sourceFile + ':' + e.lineNumber));`,
  });
  const page = (await context.newPage()) as TestPage;
  page.foreign = [];
  // Every request of the context, other tabs' too: the console works with no internet.
  context.on('request', (r) => {
    if (!isLocalRequest(r.url())) page.foreign.push(r.url());
  });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.violations = () => page.evaluate<string[]>('window.__violations');
  return page;
}

export async function closePages(): Promise<void> {
  await Promise.all([...contexts].map((c) => c.close().catch(() => undefined)));
  contexts.clear();
}

export async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Signs in through the sign-in page: the token pasted, Enter, the app shown. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Operator token').fill(token);
  await page.getByLabel('Operator token').press('Enter');
  await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: 10_000 });
}

/** The text the terminal shows (xterm's DOM rows). */
export function terminalText(page: Page): Promise<string> {
  return page.locator('.xterm-rows').innerText();
}
