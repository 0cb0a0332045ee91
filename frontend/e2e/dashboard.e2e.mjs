#!/usr/bin/env node
// EventFlow dashboard: the real-browser test.
//
// Drives Chromium (through playwright-core) against the built dashboard served with a real
// backend on one origin, the way production serves it:
//   create an API key with the admin token -> ingest events through POST /v1/events ->
//   open the dashboard -> sign in (wrong, expired, then a valid token) -> see the events in the
//   chart and the table -> page with next_cursor -> filter by name -> open one event's details ->
//   check the health badge's git sha -> save screenshots -> delete the events and the key.
// The events and the key are deleted whatever happens.
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
import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = 30_000;
const OVERALL_TIMEOUT_MS = 5 * 60_000;
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
      viewport: { width: 1440, height: 960 },
      deviceScaleFactor: 1,
      timeout: STEP_TIMEOUT_MS,
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });
  const p = /** @type {import('playwright-core').Page} */ (/** @type {unknown} */ (page));

  await step('open the dashboard: the sign-in form and the health badge', async () => {
    await p.goto(`${baseUrl}/`, { waitUntil: 'domcontentloaded' });
    await p.getByLabel('Access token').waitFor();
    await p.locator('[data-testid="health-badge"][data-status="ok"]').waitFor();
  });

  /** @param {string} token */
  async function submitToken(token) {
    await p.getByLabel('Access token').fill(token);
    await p.getByRole('button', { name: 'Sign in' }).click();
  }

  await step('a token signed with another secret is refused with a clear message', async () => {
    await submitToken(foreignToken);
    const message = p.getByTestId('signin-message');
    await message.waitFor();
    const text = (await message.textContent()) ?? '';
    assert(/not accepted/.test(text), `sign-in message is "${text}", expected it to say the token was not accepted`);
  });

  await step('an expired token is refused as expired (401 token_expired)', async () => {
    await submitToken(expiredToken);
    const message = p.getByTestId('signin-message');
    await p.waitForFunction(() => /expired/.test(document.querySelector('[data-testid="signin-message"]')?.textContent ?? ''));
    const text = (await message.textContent()) ?? '';
    assert(/has expired/.test(text), `sign-in message is "${text}", expected it to say the token has expired`);
    await mkdir(screenshotDir, { recursive: true });
    await p.screenshot({ path: path.join(screenshotDir, 'signin.png') });
  });

  await step('sign in with a valid token', async () => {
    await submitToken(viewerToken);
    await p.getByRole('heading', { name: 'Events over time' }).waitFor();
    const stored = await p.evaluate(() => sessionStorage.getItem('eventflow.token'));
    assert(stored === viewerToken, 'the token was not kept in sessionStorage');
  });

  await step('the new events appear in the chart and the table', async () => {
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

  await step('screenshot of the dashboard', async () => {
    await p.mouse.move(0, 0);
    await p.screenshot({ path: path.join(screenshotDir, 'dashboard.png'), fullPage: true });
  });

  await step('filter by event name: only that name, in table and chart', async () => {
    await p.getByLabel('Event name').fill(mainEvent);
    await p.getByRole('button', { name: 'Apply' }).click();
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

  await step('page to older events with next_cursor and back', async () => {
    const firstPageIds = await p.getByTestId('event-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')));
    await p.getByRole('button', { name: 'Older →' }).click();
    await p.waitForFunction(() => document.querySelector('[data-testid="page-number"]')?.textContent === 'Page 2');
    await p.waitForFunction((n) => document.querySelectorAll('[data-testid="event-row"]').length === n, MAIN_COUNT - 25);
    const secondPageIds = await p.getByTestId('event-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')));
    assert(
      secondPageIds.every((id) => !firstPageIds.includes(id)),
      'page 2 repeats events from page 1',
    );
    const older = p.getByRole('button', { name: 'Older →' });
    assert(await older.isDisabled(), '"Older" is still enabled on the last page');
    await p.getByRole('button', { name: '← Newer' }).click();
    await p.waitForFunction(() => document.querySelector('[data-testid="page-number"]')?.textContent === 'Page 1');
    await p.waitForFunction((n) => document.querySelectorAll('[data-testid="event-row"]').length === n, 25);
  });

  await step("open one event's details", async () => {
    await p.getByTestId('event-row').first().click();
    const detail = p.getByTestId('event-detail');
    await detail.waitFor();
    const heading = await detail.getByRole('heading', { level: 2 }).textContent();
    assert(heading === mainEvent, `detail heading is "${heading}", expected "${mainEvent}"`);
    const user = await detail.getByTestId('detail-user').textContent();
    assert(user === runId, `detail user is "${user}", expected "${runId}"`);
    const props = JSON.parse((await detail.getByTestId('detail-properties').textContent()) ?? 'null');
    assert(props?.run === runId, `detail properties are ${JSON.stringify(props)}, expected run "${runId}"`);
    // The newest event of this name is seq 0 (20 s before ingestion).
    assert(props.seq === 0, `the newest event has seq ${props.seq}, expected 0 (newest first)`);
    await p.screenshot({ path: path.join(screenshotDir, 'event-detail.png') });
    await p.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
  });

  await step("the health badge shows the backend's git sha", async () => {
    const sha = p.getByTestId('health-sha');
    const full = await sha.getAttribute('data-sha');
    assert(full === health.git_sha, `badge git sha is "${full}", /health says "${health.git_sha}"`);
    const shown = (await sha.textContent()) ?? '';
    assert(shown !== '' && health.git_sha.startsWith(shown), `badge shows "${shown}", not a prefix of ${health.git_sha}`);
    const version = await p.getByTestId('health-version').textContent();
    assert(version === `v${health.version}`, `badge version is "${version}", expected "v${health.version}"`);
  });

  await step('no uncaught errors in the page', async () => {
    assert(pageErrors.length === 0, `the page threw: ${pageErrors.join(' | ')}`);
  });
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
