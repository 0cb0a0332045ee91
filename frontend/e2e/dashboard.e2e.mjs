#!/usr/bin/env node
// EventFlow dashboard: the real-browser test.
//
// Drives Chromium (through playwright-core) against the built dashboard served with a real
// backend on one origin and the production security headers, the way production serves it:
//   create an API key with the admin token -> ingest events through POST /v1/events ->
// then at 1440×900 and at 390×844, by keyboard:
//   open the dashboard -> sign in (wrong, expired, then a valid token) -> see the events in the
//   chart and the table -> check the layout fits -> filter by name -> page with next_cursor and
//   back -> open one event's details and close them -> check the health badge -> step through
//   the time ranges -> an empty result -> an API 500 and a token that expires mid-session (both
//   stubbed with page.route, which the real backend can't be made to answer on cue),
// asserting where focus is, auditing every view with axe-core (a serious or critical violation
// fails) and saving a screenshot of each -> delete the events and the key, whatever happens.
//
// Run from frontend/ (normally by `cargo xtask test e2e`):
//   EVENTFLOW_BASE_URL=http://127.0.0.1:4173 JWT_SECRET=... ADMIN_API_TOKEN=... node e2e/dashboard.e2e.mjs
// Environment:
//   EVENTFLOW_BASE_URL        the served dashboard; its /v1 and /health reach the backend (required)
//   JWT_SECRET                the backend's JWT secret, to mint HS256 tokens (required)
//   ADMIN_API_TOKEN           the backend's admin API token, to create and delete the run's key (required)
//   JWT_ISSUER, JWT_AUDIENCE  the iss and aud the backend expects (default eventflow, eventflow-api)
//   CHROMIUM_PATH             the browser: a path, or a command on PATH (default /usr/bin/chromium)
//   EVENTFLOW_SCREENSHOT_DIR  where screenshots go (default ../target/e2e)

import { createHmac, randomBytes } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import axe from 'axe-core';
import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = 30_000;
const OVERALL_TIMEOUT_MS = 8 * 60_000;
/** The audited sizes: a laptop and a phone. */
const VIEWPORTS = [
  { width: 1440, height: 900 },
  { width: 390, height: 844 },
];
const FIX = 'run it through `cargo xtask test e2e`, which builds and serves the dashboard with a backend and sets these';

// ---------------------------------------------------------------------------------------------
// Configuration

const baseUrl = (process.env.EVENTFLOW_BASE_URL ?? '').trim().replace(/\/+$/, '');
const jwtSecret = process.env.JWT_SECRET ?? '';
const adminToken = process.env.ADMIN_API_TOKEN ?? '';
const jwtIssuer = process.env.JWT_ISSUER?.trim() || 'eventflow';
const jwtAudience = process.env.JWT_AUDIENCE?.trim() || 'eventflow-api';
const chromiumSetting = process.env.CHROMIUM_PATH?.trim() || '/usr/bin/chromium';

/**
 * A path as given, or a bare command name (e.g. `chromium`) looked up on PATH.
 * @param {string} name
 * @returns {string | null}
 */
function resolveExecutable(name) {
  /** @param {string} file */
  const runnable = (file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return runnable(name) ? path.resolve(name) : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && runnable(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}
const screenshotDir = path.resolve(process.env.EVENTFLOW_SCREENSHOT_DIR?.trim() || '../target/e2e');

/** @param {string} message */
function configError(message) {
  console.error(`dashboard e2e: ${message}`);
  process.exit(1);
}

if (!baseUrl) configError(`EVENTFLOW_BASE_URL is not set (the URL of the served dashboard): ${FIX}.`);
if (!/^https?:\/\//.test(baseUrl)) configError(`EVENTFLOW_BASE_URL must be an http(s) URL, got "${baseUrl}": ${FIX}.`);
if (!jwtSecret) configError(`JWT_SECRET is not set (the backend's secret, to mint test tokens): ${FIX}.`);
if (!adminToken) configError(`ADMIN_API_TOKEN is not set (the backend's admin API token, to create the run's API key): ${FIX}.`);
const resolvedChromium = resolveExecutable(chromiumSetting);
if (!resolvedChromium) {
  configError(
    `Chromium was not found at "${chromiumSetting}": install it (Debian/Ubuntu: \`apt-get install -y chromium\`) or set CHROMIUM_PATH to a Chrome or Chromium binary, then run this test through \`cargo xtask test e2e\`.`,
  );
}
const chromiumPath = /** @type {string} */ (resolvedChromium);

// ---------------------------------------------------------------------------------------------
// Helpers

/** @param {Buffer | string} data */
const b64url = (data) => Buffer.from(data).toString('base64url');

/**
 * An HS256 JWT.
 * @param {Record<string, unknown>} claims
 * @param {string} secret
 */
function mintJwt(claims, secret) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${signature}`;
}

class AssertionError extends Error {}

/**
 * @param {unknown} condition
 * @param {string} message
 * @returns {asserts condition}
 */
function assert(condition, message) {
  if (!condition) throw new AssertionError(message);
}

/**
 * A request to the backend through the dashboard's origin.
 * @param {string} method
 * @param {string} pathAndQuery
 * @param {{ token?: string, apiKey?: string, body?: unknown }} [options]
 */
async function api(method, pathAndQuery, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers['X-API-Key'] = options.apiKey;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${baseUrl}${pathAndQuery}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  const text = await response.text();
  /** @type {any} */
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON; kept as text for the message
  }
  return { status: response.status, json, text };
}

/**
 * @param {{ status: number, text: string }} response
 * @param {number} expected
 * @param {string} what
 */
function expectStatus(response, expected, what) {
  assert(
    response.status === expected,
    `${what}: expected HTTP ${expected}, got ${response.status}: ${response.text.slice(0, 300)}`,
  );
}

let passed = 0;

/**
 * Run one named step, bounded in time, and report it.
 * @template T
 * @param {string} name
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function step(name, fn) {
  const started = Date.now();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new AssertionError(`timed out after ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([fn(), timeout]);
    passed++;
    console.log(`  ok  ${name} (${Date.now() - started} ms)`);
    return /** @type {T} */ (result);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new AssertionError(`step "${name}" failed: ${message}`);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The test

const runId = `e2e-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const suffix = runId.replace(/-/g, '_');
const mainEvent = `checkout_${suffix}`;
const otherEvent = `page_view_${suffix}`;
const MAIN_COUNT = 27; // more than one page of 25, so paging is exercised
const OTHER_COUNT = 3;
const now = () => Math.floor(Date.now() / 1000);

/**
 * The registered claims the backend requires: its issuer and audience, and a short lifetime.
 * @param {number} issuedAt
 * @param {number} lifetime seconds
 */
const registered = (issuedAt, lifetime) => ({
  iss: jwtIssuer,
  aud: jwtAudience,
  iat: issuedAt,
  nbf: issuedAt,
  exp: issuedAt + lifetime,
});
const viewerToken = mintJwt({ sub: `${runId}@eventflow.test`, ...registered(now(), 900) }, jwtSecret);
const expiredToken = mintJwt({ sub: `${runId}-expired`, ...registered(now() - 4500, 900) }, jwtSecret);
const foreignToken = mintJwt({ sub: `${runId}-foreign`, ...registered(now(), 900) }, `not-the-secret-${randomBytes(16).toString('hex')}`);

/** @type {{ id: string, key: string } | null} */
let apiKey = null;
/** @type {import('playwright-core').BrowserContext | null} */
let context = null;
/** @type {import('playwright-core').Page | null} */
let page = null;
/** @type {string | null} */
let userDataDir = null;
/** @type {string[]} */
const pageErrors = [];
/** @type {string[]} */
const cspViolations = [];
/** Requests the page made to the API (/v1/…), to count what a control sends. */
let apiRequests = 0;
/** @type {{ view: string, width: number, minor: string[] }[]} */
const audits = [];

async function run() {
  console.log(`dashboard e2e against ${baseUrl} (run ${runId})`);

  const health = await step('GET /health answers ok with a git sha', async () => {
    const res = await api('GET', '/health');
    expectStatus(res, 200, 'GET /health');
    assert(res.json?.status === 'ok', `health status is ${JSON.stringify(res.json?.status)}, expected "ok"`);
    assert(typeof res.json.git_sha === 'string' && res.json.git_sha !== '', 'health has no git_sha');
    return /** @type {{ version: string, git_sha: string }} */ (res.json);
  });

  apiKey = await step('create an API key through the admin API', async () => {
    const res = await api('POST', '/v1/admin/api-keys', { token: adminToken, body: { name: runId } });
    expectStatus(res, 201, 'POST /v1/admin/api-keys');
    assert(typeof res.json?.id === 'string' || typeof res.json?.id === 'number', 'the new key has no id');
    assert(typeof res.json?.key === 'string' && res.json.key !== '', 'the new key has no secret');
    return { id: String(res.json.id), key: String(res.json.key) };
  });

  await step(`ingest ${MAIN_COUNT + OTHER_COUNT} events through POST /v1/events`, async () => {
    const t0 = Date.now();
    const events = [
      ...Array.from({ length: MAIN_COUNT }, (_, i) => ({
        name: mainEvent,
        timestamp: new Date(t0 - (i + 1) * 20_000).toISOString(), // over the last 9 minutes
        user_id: runId,
        properties: { run: runId, seq: i, plan: i % 2 ? 'pro' : 'free', amount_cents: 1000 + i },
      })),
      ...Array.from({ length: OTHER_COUNT }, (_, i) => ({
        name: otherEvent,
        timestamp: new Date(t0 - (i + 1) * 95_000).toISOString(),
        user_id: runId,
        properties: { run: runId, path: `/pricing/${i}` },
      })),
    ];
    const res = await api('POST', '/v1/events', { apiKey: apiKey?.key, body: { events } });
    expectStatus(res, 202, 'POST /v1/events');
    assert(res.json?.accepted === events.length, `accepted ${JSON.stringify(res.json?.accepted)}, expected ${events.length}`);
    // and one on its own, in the single-event form
    const single = await api('POST', '/v1/events', {
      apiKey: apiKey?.key,
      body: { name: otherEvent, user_id: runId, properties: { run: runId, path: '/' } },
    });
    expectStatus(single, 202, 'POST /v1/events (single event)');
    assert(single.json?.accepted === 1, `accepted ${JSON.stringify(single.json?.accepted)}, expected 1`);
  });

  await step("the dashboard is served with nginx's security headers, its Content-Security-Policy included", async () => {
    const res = await fetch(`${baseUrl}/`, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"]) {
      assert(csp.split(';').map((d) => d.trim()).includes(directive), `GET / has Content-Security-Policy "${csp}", without ${directive}`);
    }
    assert(res.headers.get('x-frame-options') === 'DENY', 'GET / has no X-Frame-Options: DENY');
  });

  await step('launch Chromium', async () => {
    userDataDir = await mkdtemp(path.join(tmpdir(), 'eventflow-e2e-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: VIEWPORTS[0],
      deviceScaleFactor: 1,
      timeout: STEP_TIMEOUT_MS,
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/v1/')) apiRequests++;
    });
    await mkdir(screenshotDir, { recursive: true });
  });
  const p = /** @type {import('playwright-core').Page} */ (/** @type {unknown} */ (page));

  for (const viewport of VIEWPORTS) {
    await walk(p, viewport, health);
  }

  await step('no uncaught errors in the page', async () => {
    assert(pageErrors.length === 0, `the page threw: ${pageErrors.join(' | ')}`);
  });

  await step('nothing was refused by the Content-Security-Policy', async () => {
    assert(cspViolations.length === 0, `the browser reported: ${cspViolations.join(' | ')}`);
  });

  console.log(`  axe: ${audits.length} audits (${audits.map((a) => `${a.view}@${a.width}`).join(', ')}), 0 serious or critical`);
  const minor = audits.flatMap((a) => a.minor.map((v) => `${v} (${a.view}@${a.width})`));
  if (minor.length > 0) console.log(`  axe, moderate or minor (reported, not failed): ${[...new Set(minor)].join(', ')}`);
}

/**
 * Every view, by keyboard where a user would use it, at one viewport: sign-in and its errors,
 * the dashboard with this run's events, the detail panel, paging, the time range, the empty
 * state, an API failure and a token that expires mid-session. Each view is audited with axe and
 * photographed as `<view>-<width>.png`.
 * @param {import('playwright-core').Page} p
 * @param {{ width: number, height: number }} viewport
 * @param {{ version: string, git_sha: string }} health
 */
async function walk(p, viewport, health) {
  const w = viewport.width;
  /** @param {string} name @param {() => Promise<void>} fn */
  const at = (name, fn) => step(`[${w}] ${name}`, fn);

  await at('open the dashboard: the sign-in form and the health badge', async () => {
    await p.setViewportSize(viewport);
    await p.goto(`${baseUrl}/`, { waitUntil: 'domcontentloaded' });
    await p.getByLabel('Access token').waitFor();
    await p.locator('[data-testid="health-badge"][data-status="ok"]').waitFor();
    await audit(p, 'signin', w);
  });

  /**
   * Paste a token, Tab to "Sign in" and press Enter, as a keyboard user would.
   * @param {string} token
   */
  async function submitToken(token) {
    await p.getByLabel('Access token').fill(token);
    await p.keyboard.press('Tab');
    await expectFocus(p, 'button[type="submit"]', 'Tab from the token field reaches "Sign in"');
    await p.keyboard.press('Enter');
    // While the token is checked focus stays on the button, or has already moved on: back to
    // the field (refused) or to the dashboard's heading (accepted).
    await expectFocus(p, 'button[type="submit"], #token, h1', 'focus while the token is checked');
  }

  await at('a token signed with another secret is refused, and focus returns to the token field', async () => {
    await submitToken(foreignToken);
    const message = p.getByTestId('signin-message');
    await message.waitFor();
    const text = (await message.textContent()) ?? '';
    assert(/not accepted/.test(text), `sign-in message is "${text}", expected it to say the token was not accepted`);
    await expectFocus(p, '#token', 'after a refused token');
    await audit(p, 'signin-error', w);
  });

  await at('an expired token is refused as expired (401 token_expired)', async () => {
    await submitToken(expiredToken);
    const message = p.getByTestId('signin-message');
    await p.waitForFunction(() => /expired/.test(document.querySelector('[data-testid="signin-message"]')?.textContent ?? ''));
    const text = (await message.textContent()) ?? '';
    assert(/has expired/.test(text), `sign-in message is "${text}", expected it to say the token has expired`);
    await expectFocus(p, '#token', 'after an expired token');
  });

  await at('sign in with a valid token, by keyboard', async () => {
    await submitToken(viewerToken);
    await p.getByRole('heading', { name: 'Events over time' }).waitFor();
    const stored = await p.evaluate(() => sessionStorage.getItem('eventflow.token'));
    assert(stored === viewerToken, 'the token was not kept in sessionStorage');
    const h1 = await p.getByRole('heading', { level: 1 }).count();
    assert(h1 === 1, `the dashboard has ${h1} h1 headings, expected 1`);
    await expectFocus(p, 'h1', 'once signed in');
  });

  await at('the new events appear in the chart and the table', async () => {
    // Newest first: this run's events were just ingested, so they lead the table.
    await p.getByTestId('event-row').first().waitFor();
    const names = await p.getByTestId('event-name').allTextContents();
    assert(
      names.includes(mainEvent) && names.includes(otherEvent),
      `the newest events table does not show this run's events (first names: ${names.slice(0, 5).join(', ')})`,
    );
    // The chart has bars; on a busy database this run's names may be folded into "Other",
    // so their exact counts are checked below with the name filter.
    await p.locator('rect.chart-bar').first().waitFor();
    const legend = await p.locator('[data-testid="chart-legend"] li').evaluateAll((items) =>
      items.map((li) => li.getAttribute('data-series')),
    );
    assert(legend.length > 0, 'the chart has no legend');
  });

  await at('the layout fits the screen: no sideways scrolling, Sign out visible, readable axis text, pager below the table', async () => {
    const layout = await p.evaluate(() => {
      const signOut = [...document.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Sign out');
      const rect = signOut?.getBoundingClientRect();
      const axis = /** @type {SVGTextElement | null} */ (document.querySelector('.chart-axis'));
      const scale = axis?.getScreenCTM()?.a ?? 0;
      const tableWrap = document.querySelector('.table-wrap');
      const table = document.querySelector('[data-testid="events-table"]')?.getBoundingClientRect();
      const bottomPager = document.querySelector('nav[aria-label="Event pages, bottom"]')?.getBoundingClientRect();
      return {
        pageWidth: document.documentElement.scrollWidth,
        viewportWidth: window.innerWidth,
        signOutInside: !!rect && rect.left >= 0 && rect.right <= window.innerWidth,
        axisPx: axis ? scale * parseFloat(getComputedStyle(axis).fontSize) : 0,
        tableOverflow: tableWrap ? tableWrap.scrollWidth - tableWrap.clientWidth : -1,
        pagerBelow: !!table && !!bottomPager && bottomPager.top >= table.bottom,
      };
    });
    assert(layout.pageWidth <= layout.viewportWidth, `the page is ${layout.pageWidth} px wide in a ${layout.viewportWidth} px viewport: it scrolls sideways`);
    assert(layout.signOutInside, '"Sign out" is not inside the viewport');
    assert(layout.axisPx >= 10, `the chart's axis text is drawn at ${layout.axisPx.toFixed(1)} px, expected at least 10`);
    assert(layout.tableOverflow === 0, `the events table overflows its box by ${layout.tableOverflow} px`);
    assert(layout.pagerBelow, 'there is no pager below the table');
    await p.mouse.move(0, 0);
    await audit(p, 'dashboard', w);
  });

  await at('the health details open by keyboard and show the git sha', async () => {
    const summary = p.locator('[data-testid="health-badge"] summary');
    await summary.focus();
    await p.keyboard.press('Enter');
    const details = p.getByTestId('health-details');
    await details.waitFor({ state: 'visible' });
    const text = (await details.textContent()) ?? '';
    assert(text.includes(health.git_sha), `the health details read "${text}", without the git sha ${health.git_sha}`);
    await p.keyboard.press('Enter');
    await details.waitFor({ state: 'hidden' });
  });

  await at('filter by event name by keyboard: only that name, in table and chart', async () => {
    await p.getByLabel('Event name').fill(mainEvent);
    await p.keyboard.press('Enter');
    await p.waitForFunction(
      ({ name, count }) => {
        const rows = [...document.querySelectorAll('[data-testid="event-row"] [data-testid="event-name"]')];
        const legend = [...document.querySelectorAll('[data-testid="chart-legend"] li')];
        return (
          rows.length === count &&
          rows.every((r) => r.textContent === name) &&
          legend.length === 1 &&
          legend[0]?.getAttribute('data-series') === name
        );
      },
      { name: mainEvent, count: 25 },
    );
    const total = await p.locator(`[data-testid="chart-legend"] li[data-series="${mainEvent}"] .legend-total`).textContent();
    assert(total === String(MAIN_COUNT), `the chart legend counts ${total} "${mainEvent}" events, expected ${MAIN_COUNT}`);
    const barSum = await p.locator(`rect.chart-bar[data-series="${mainEvent}"]`).evaluateAll((rects) =>
      rects.reduce((sum, r) => sum + Number(r.getAttribute('data-count')), 0),
    );
    assert(barSum === MAIN_COUNT, `the chart's bars for "${mainEvent}" add up to ${barSum}, expected ${MAIN_COUNT}`);
  });

  await at('page to older events by keyboard and back: focus stays on the pager, then lands on the results', async () => {
    const rowIds = () => p.getByTestId('event-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')));
    const firstPageIds = await rowIds();
    const topPager = p.getByRole('navigation', { name: 'Event pages', exact: true });
    await topPager.getByRole('button', { name: 'Older →' }).focus();
    await p.keyboard.press('Enter');
    await expectFocus(p, 'nav[aria-label="Event pages"] button, [data-testid="events-results"]', 'while page 2 loads');
    await p.waitForFunction(() => document.querySelector('[data-testid="page-number"]')?.textContent === 'Page 2');
    await p.waitForFunction((n) => document.querySelectorAll('[data-testid="event-row"]').length === n, MAIN_COUNT - 25);
    await expectFocus(p, '[data-testid="events-results"][aria-label="Events, page 2"]', 'after paging to page 2');
    const secondPageIds = await rowIds();
    assert(
      secondPageIds.every((id) => !firstPageIds.includes(id)),
      'page 2 repeats events from page 1',
    );
    assert(await topPager.getByRole('button', { name: 'Older →' }).isDisabled(), '"Older" is still enabled on the last page');
    // Back with the pager below the table.
    const bottomPager = p.getByRole('navigation', { name: 'Event pages, bottom' });
    await bottomPager.getByRole('button', { name: '← Newer' }).focus();
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => document.querySelector('[data-testid="page-number"]')?.textContent === 'Page 1');
    await p.waitForFunction((n) => document.querySelectorAll('[data-testid="event-row"]').length === n, 25);
    await expectFocus(p, '[data-testid="events-results"][aria-label="Events, page 1"]', 'after paging back to page 1');
  });

  await at("open one event's details by keyboard: focus is held in the panel, the page behind is inert, Escape returns focus to the row", async () => {
    // From the results, the next Tab is the first row's name button.
    await p.keyboard.press('Tab');
    await expectFocus(p, '[data-testid="event-row"]:first-child .row-open', 'Tab from the results');
    await p.keyboard.press('Enter');
    const detail = p.getByTestId('event-detail');
    await detail.waitFor();
    await expectFocus(p, 'dialog[open] button[aria-label="Close details"]', 'when the detail panel opens');
    const heading = await detail.getByRole('heading', { level: 2 }).textContent();
    assert(heading === mainEvent, `detail heading is "${heading}", expected "${mainEvent}"`);
    const user = await detail.getByTestId('detail-user').textContent();
    assert(user === runId, `detail user is "${user}", expected "${runId}"`);
    const props = JSON.parse((await detail.getByTestId('detail-properties').textContent()) ?? 'null');
    assert(props?.run === runId, `detail properties are ${JSON.stringify(props)}, expected run "${runId}"`);
    // The newest event of this name is seq 0 (20 s before ingestion).
    assert(props.seq === 0, `the newest event has seq ${props.seq}, expected 0 (newest first)`);
    // Tab and Shift+Tab cycle through the panel (close button, the scrollable JSON) and never
    // reach the page behind it.
    /** @type {string[]} */
    const seen = [];
    for (const key of ['Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
      await p.keyboard.press(key);
      const where = await p.evaluate(() => {
        const el = document.activeElement;
        return { inDialog: !!el?.closest('dialog[open]'), what: el ? `${el.tagName.toLowerCase()}${el.getAttribute('data-testid') ? `[${el.getAttribute('data-testid')}]` : ''}` : 'none' };
      });
      assert(where.inDialog, `after ${seen.length + 1} Tab presses focus left the detail panel for ${where.what}`);
      seen.push(where.what);
    }
    assert(seen.includes('pre[detail-properties]'), `Tab never reached the properties JSON (focus went to ${seen.join(', ')})`);
    const behind = await p.evaluate(() => {
      const signOut = [...document.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Sign out');
      signOut?.focus();
      return document.activeElement === signOut;
    });
    assert(!behind, 'a control behind the detail panel took focus: the page behind is not inert');
    await audit(p, 'detail', w, { fullPage: false });
    await p.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
    await expectFocus(p, '[data-testid="event-row"]:first-child .row-open', 'after closing the detail panel');
  });

  await at("the health badge shows the backend's git sha", async () => {
    const sha = p.getByTestId('health-sha');
    const full = await sha.getAttribute('data-sha');
    assert(full === health.git_sha, `badge git sha is "${full}", /health says "${health.git_sha}"`);
    const shown = (await sha.textContent()) ?? '';
    assert(shown !== '' && health.git_sha.startsWith(shown), `badge shows "${shown}", not a prefix of ${health.git_sha}`);
    const version = await p.getByTestId('health-version').textContent();
    assert(version === `v${health.version}`, `badge version is "${version}", expected "v${health.version}"`);
  });

  await at('the time range loads on Apply, not on every option the arrow keys pass', async () => {
    const select = p.getByLabel('Time range');
    await select.focus();
    const before = apiRequests;
    for (const key of ['ArrowDown', 'ArrowDown', 'ArrowDown', 'ArrowUp', 'ArrowUp']) await p.keyboard.press(key);
    await p.waitForTimeout(500);
    assert(apiRequests === before, `the arrow keys on the time range sent ${apiRequests - before} requests, expected none before Apply`);
    const chosen = await select.inputValue();
    assert(chosen === '6h', `the time range is "${chosen}" after Down ×3, Up ×2 from "1h", expected "6h"`);
    await p.getByRole('button', { name: 'Apply' }).click();
    await p.waitForFunction(() => !document.querySelector('[aria-busy="true"]') && !document.querySelector('.is-refreshing'));
    await p.getByTestId('event-row').first().waitFor();
    assert(apiRequests === before + 2, `Apply sent ${apiRequests - before} requests, expected 2 (counts and events)`);
  });

  await at('a name without events: the empty states', async () => {
    await p.getByLabel('Event name').fill(`nothing_${suffix}`);
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => document.querySelectorAll('[data-testid="empty-state"]').length === 2);
    await audit(p, 'empty', w);
  });

  await at('the API answers 500: one alert, both panels say so; "Try again" keeps focus in place', async () => {
    await p.route(`${baseUrl}/v1/**`, (route) =>
      route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: { code: 'internal', message: 'internal error' } }) }),
    );
    try {
      await p.getByRole('button', { name: 'Refresh' }).click();
      await p.waitForFunction(() => document.querySelectorAll('[data-testid="error-state"]').length === 2);
      await p.waitForFunction(() => (document.querySelector('[data-testid="page-alert"]')?.textContent ?? '') !== '');
      const alerts = await p.getByRole('alert').count();
      assert(alerts === 1, `the page has ${alerts} alerts for one failure, expected 1`);
      await audit(p, 'api-500', w);
    } finally {
      await p.unroute(`${baseUrl}/v1/**`);
    }
    // The API is back: "Try again" by keyboard, and focus lands on what it loaded.
    await p.getByTestId('events-results').getByRole('button', { name: 'Try again' }).focus();
    await p.keyboard.press('Enter');
    await p.getByTestId('events-results').getByTestId('empty-state').waitFor();
    await expectFocus(p, '[data-testid="events-results"]', 'after "Try again" loaded the events');
  });

  await at('the token expires mid-session: back at sign-in, focus on the token field, with a message', async () => {
    await p.route(`${baseUrl}/v1/**`, (route) =>
      route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: { code: 'token_expired', message: 'token expired' } }) }),
    );
    try {
      await p.getByRole('button', { name: 'Refresh' }).click();
      const message = p.getByTestId('signin-message');
      await message.waitFor();
      const text = (await message.textContent()) ?? '';
      assert(/session has expired/.test(text), `sign-in message is "${text}", expected it to say the session has expired`);
      await expectFocus(p, '#token', 'back at sign-in');
      await audit(p, 'token-expired', w);
    } finally {
      await p.unroute(`${baseUrl}/v1/**`);
    }
  });
}

/**
 * axe-core over the whole page: any serious or critical violation fails the step; the rest are
 * reported. Then a screenshot of the view. axe is evaluated through the browser's debugging
 * protocol rather than an inline <script>, which the page's Content-Security-Policy refuses.
 * @param {import('playwright-core').Page} p
 * @param {string} view
 * @param {number} width
 * @param {{ fullPage?: boolean }} [options]
 */
async function audit(p, view, width, options = {}) {
  // Nothing still loading or fading in (a dimmed panel is a different contrast).
  await p.waitForFunction(() => !document.querySelector('[aria-busy="true"]') && !document.querySelector('.is-refreshing'));
  await p.waitForTimeout(200);
  if (!(await p.evaluate(() => 'axe' in window))) await p.evaluate(axe.source);
  const violations = await p.evaluate(async () => {
    // @ts-expect-error axe is the global the evaluated axe-core source defines
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return /** @type {{ id: string, impact: string, help: string, nodes: { target: string[] }[] }[]} */ (result.violations).map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  audits.push({ view, width, minor: violations.filter((v) => !blocking.includes(v)).map((v) => `${v.id} (${v.impact})`) });
  await p.screenshot({ path: path.join(screenshotDir, `${view}-${width}.png`), fullPage: options.fullPage ?? true });
  assert(
    blocking.length === 0,
    `axe found ${blocking.length} serious or critical violations on "${view}" at ${width} px: ${blocking
      .map((v) => `${v.id} (${v.impact}: ${v.help}) at ${v.targets.join(' | ')}`)
      .join('; ')}`,
  );
}

/**
 * Fail unless the focused element matches `selector`, naming where focus is instead.
 * @param {import('playwright-core').Page} p
 * @param {string} selector
 * @param {string} when
 */
async function expectFocus(p, selector, when) {
  const found = await p.evaluate((sel) => {
    const el = document.activeElement;
    if (el && el.matches(sel)) return null;
    if (!el || el === document.body) return '<body> (focus was lost)';
    const label = el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 40) ?? '';
    return `<${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}> "${label}"`;
  }, selector);
  assert(found === null, `${when}: focus is on ${found}, expected ${selector}`);
}

/** Delete this run's events and key; report problems without hiding the test's own outcome. */
async function cleanup() {
  /** @type {string[]} */
  const problems = [];
  if (page && process.exitCode) {
    try {
      await mkdir(screenshotDir, { recursive: true });
      await page.screenshot({ path: path.join(screenshotDir, 'dashboard-failure.png'), fullPage: true, timeout: 10_000 });
      console.error(`  screenshot of the failure: ${path.join(screenshotDir, 'dashboard-failure.png')}`);
    } catch {
      // the browser may be gone
    }
  }
  try {
    await context?.close();
  } catch {
    // already closed
  }
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  try {
    const res = await api('DELETE', `/v1/admin/events?user_id=${encodeURIComponent(runId)}`, { token: adminToken });
    if (res.status !== 200) problems.push(`DELETE /v1/admin/events answered ${res.status}: ${res.text.slice(0, 200)}`);
    else console.log(`  cleanup: deleted ${res.json?.deleted} events of ${runId}`);
  } catch (error) {
    problems.push(`DELETE /v1/admin/events failed: ${error instanceof Error ? error.message : error}`);
  }
  if (apiKey) {
    try {
      const res = await api('DELETE', `/v1/admin/api-keys/${encodeURIComponent(apiKey.id)}`, { token: adminToken });
      if (res.status !== 204) problems.push(`DELETE /v1/admin/api-keys/${apiKey.id} answered ${res.status}: ${res.text.slice(0, 200)}`);
      else console.log(`  cleanup: deleted API key ${apiKey.id}`);
    } catch (error) {
      problems.push(`DELETE /v1/admin/api-keys failed: ${error instanceof Error ? error.message : error}`);
    }
  }
  for (const problem of problems) console.error(`  cleanup: ${problem}`);
  return problems.length === 0;
}

const watchdog = setTimeout(() => {
  console.error(`dashboard e2e: gave up after ${OVERALL_TIMEOUT_MS / 60_000} minutes`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

let failure = null;
try {
  await run();
} catch (error) {
  failure = error;
  process.exitCode = 1;
  console.error(`  FAIL ${error instanceof AssertionError ? error.message : error instanceof Error ? error.stack : error}`);
}
const cleanedUp = await cleanup();
clearTimeout(watchdog);
if (!failure && !cleanedUp) process.exitCode = 1;
console.log(`${passed} passed, ${failure ? 1 : 0} failed`);
if (!failure && cleanedUp) console.log(`screenshots in ${screenshotDir}`);
