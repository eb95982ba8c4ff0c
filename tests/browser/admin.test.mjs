/*
 * The admin panel (/admin) in Debian's chromium, driven by playwright-core.
 * Run by tests/integration/test_admin_browser.sh, which starts an API and a
 * command worker, makes a user and a paid order, and passes:
 *   ORDERFLOW_API_URL           http://127.0.0.1:PORT of that API
 *   ORDERFLOW_ADMIN_TOKEN       an admin JWT
 *   ORDERFLOW_ADMIN_API_KEY     an admin API key
 *   ORDERFLOW_USER_TOKEN        a JWT of role user (the panel must refuse it)
 *   ORDERFLOW_TEST_USER_ID, ORDERFLOW_TEST_USER_EMAIL, ORDERFLOW_TEST_USER_NAME
 *   ORDERFLOW_TEST_ORDER_ID     a paid order of that user
 *   ORDERFLOW_TEST_COMMAND_ID   the user's registration command
 *   ORDERFLOW_TEST_DLQ_KEY, ORDERFLOW_TEST_DLQ_TOPIC  the key of a dead letter
 *                               (a message that is no command) and its topic
 *   ORDERFLOW_TEST_RESULTS_DIR  where the screenshots go (PNG, one a page)
 *   ORDERFLOW_TEST_BROWSER_MARKER  an extra chromium switch naming this run
 * Each check prints "ok N - what" or "not ok N - what"; the first failure
 * prints the page's console errors, saves failure.png and exits 1. Every
 * wait has a time limit, and the browser is closed on every path.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const WAIT_MS = 15000; /* any one wait in the page */
const TOTAL_MS = 200000; /* the whole script */

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`admin.test.mjs: ${name} is not set (run tests/integration/test_admin_browser.sh)`);
    process.exit(2);
  }
  return v;
}

const base = env('ORDERFLOW_API_URL').replace(/\/$/, '');
const token = env('ORDERFLOW_ADMIN_TOKEN');
const apiKey = env('ORDERFLOW_ADMIN_API_KEY');
const userToken = env('ORDERFLOW_USER_TOKEN');
const userId = env('ORDERFLOW_TEST_USER_ID');
const email = env('ORDERFLOW_TEST_USER_EMAIL');
const username = env('ORDERFLOW_TEST_USER_NAME');
const orderId = env('ORDERFLOW_TEST_ORDER_ID');
const commandId = env('ORDERFLOW_TEST_COMMAND_ID');
const dlqKey = env('ORDERFLOW_TEST_DLQ_KEY');
const dlqTopic = env('ORDERFLOW_TEST_DLQ_TOPIC');
const shots = env('ORDERFLOW_TEST_RESULTS_DIR');
const marker = process.env.ORDERFLOW_TEST_BROWSER_MARKER;
/* the live step registers five users under this prefix; paging lists them */
const pagingPrefix = `paging-${userId}-${Date.now()}-`;
mkdirSync(shots, {recursive: true});

const consoleErrors = [];
/* HTTP statuses the current step provokes on purpose (a refused token, an
 * unknown command): chromium logs them as console errors */
const expectedStatus = new Set();
let n = 0;
let browser = null;
let page = null;

function ok(what) {
  n++;
  console.log(`ok ${n} - ${what}`);
}

class CheckFailed extends Error {}

function check(cond, what, detail) {
  if (cond) {
    ok(what);
    return;
  }
  n++;
  console.log(`not ok ${n} - ${what}`);
  if (detail !== undefined) console.log(`#   ${detail}`);
  throw new CheckFailed(what);
}

function is(got, want, what, note) {
  check(got === want, what, `got: ${JSON.stringify(got)}, expected: ${JSON.stringify(want)}` +
        (note ? ` (${note})` : ''));
}

/* waitFor with a name: a timeout fails the check that names it. */
async function waitFor(what, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, what, e.message.split('\n')[0]);
  }
  ok(what);
}

async function shot(name) {
  const path = join(shots, `${name}.png`);
  await page.screenshot({path, fullPage: true, timeout: WAIT_MS});
  console.log(`# screenshot ${path}`);
}

/* The API, outside the browser: what it says of a user or an order. */
async function apiGet(path) {
  const r = await fetch(base + path, {
    headers: {Authorization: `Bearer ${token}`},
    signal: AbortSignal.timeout(10000),
  });
  return {status: r.status, body: await r.json()};
}

async function signIn() {
  await page.goto(`${base}/admin/`, {timeout: WAIT_MS});
  await waitFor('the sign-in form shows', () =>
    page.getByTestId('view-signin').waitFor({state: 'visible', timeout: WAIT_MS}));
  is(await page.getByTestId('nav-users').isVisible(), false, 'no navigation before sign-in');

  /* a token the API refuses: the panel says so and stays on sign-in */
  await page.getByTestId('signin-kind').selectOption('jwt');
  await page.getByTestId('signin-secret').fill('not.a.jwt');
  expectedStatus.add(401);
  await page.getByTestId('signin-submit').click();
  await waitFor('a refused token says 401 on the sign-in form', () =>
    page.getByTestId('signin-message').filter({hasText: '401'}).waitFor({timeout: WAIT_MS}));
  expectedStatus.delete(401);
  is(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not stored');
  await shot('signin');

  await page.getByTestId('signin-secret').fill(token);
  await page.getByTestId('signin-submit').click();
  await waitFor('signed in: the users view shows', () =>
    page.getByTestId('view-users').waitFor({state: 'visible', timeout: WAIT_MS}));
  const stored = await page.evaluate(() => ({
    session: sessionStorage.getItem('orderflow.admin.auth'),
    local: localStorage.length,
  }));
  check(stored.session && stored.session.includes(token) && stored.local === 0,
        'the token is kept in sessionStorage only', JSON.stringify(stored).slice(0, 200));
}

async function users() {
  await page.getByTestId('users-q').fill(email);
  await page.getByTestId('users-search-submit').click();
  const row = page.getByTestId(`user-row-${userId}`);
  await waitFor(`searching "${email}" lists user ${userId}`, () =>
    row.waitFor({timeout: WAIT_MS}));
  is(await page.locator('#users-body tr').count(), 1, 'the search lists exactly that user');
  is(await row.getByTestId('user-email').textContent(), email, 'the row shows the email');
  /* the username holds markup: it must show as text, never become elements */
  is(await row.locator('td').nth(2).textContent(), username, 'the username shows as text, markup and all');
  is(await page.locator('#inj').count(), 0, 'no element was made from the username');
  is(await row.getByTestId('user-banned').getAttribute('data-banned'), 'false', 'the user is not banned yet');

  await row.getByTestId('user-ban').click();
  await waitFor('Ban asks for confirmation', () =>
    page.getByTestId('confirm-dialog').waitFor({state: 'visible', timeout: WAIT_MS}));
  is((await page.getByTestId('confirm-text').textContent()).includes(email), true,
     'the confirmation names the user');
  await page.getByTestId('confirm-ok').click();
  await waitFor('the row shows the user banned', () =>
    row.locator('[data-testid="user-banned"][data-banned="true"]').waitFor({timeout: WAIT_MS}));
  is((await row.getByTestId('user-banned').textContent()).trim(), 'banned', 'the status badge says banned');
  is(await row.getByTestId('user-unban').count(), 1, 'the row now offers Unban');
  await waitFor('the panel confirms the ban', () =>
    page.getByTestId('users-message').filter({hasText: 'banned'}).waitFor({timeout: WAIT_MS}));
  await shot('users');
  const u = await apiGet(`/v1/users/${userId}`);
  is(`${u.status} ${u.body.is_banned}`, '200 true', `GET /v1/users/${userId} says is_banned true`);
}

async function orders() {
  await page.getByTestId(`user-row-${userId}`).getByTestId('user-orders').click();
  await waitFor('the user\'s Orders link opens the orders view', () =>
    page.getByTestId('view-orders').waitFor({state: 'visible', timeout: WAIT_MS}));
  is(await page.getByTestId('orders-user').inputValue(), userId, 'the orders are filtered by that user');
  const row = page.getByTestId(`order-row-${orderId}`);
  await waitFor(`order ${orderId} is listed`, () => row.waitFor({timeout: WAIT_MS}));
  const owners = await page.locator('#orders-body tr td:nth-child(2)').allTextContents();
  check(owners.length >= 1 && owners.every((t) => t.trim() === userId),
        'every listed order is the user\'s', JSON.stringify(owners));
  is(await row.getByTestId('order-status').getAttribute('data-status'), 'paid', 'the order shows paid');
  is(await row.getByTestId('order-cancel').count(), 0, 'a paid order offers no Cancel');

  /* the status filter narrows the same list */
  await page.getByTestId('orders-status').selectOption('pending');
  await page.getByTestId('orders-apply').click();
  await waitFor('filtering on pending hides the paid order', () =>
    row.waitFor({state: 'detached', timeout: WAIT_MS}));
  await page.getByTestId('orders-status').selectOption('');
  await page.getByTestId('orders-apply').click();
  await waitFor('clearing the status filter lists it again', () => row.waitFor({timeout: WAIT_MS}));

  await row.getByTestId('order-refund').click();
  await waitFor('Refund asks for confirmation', () =>
    page.getByTestId('confirm-dialog').waitFor({state: 'visible', timeout: WAIT_MS}));
  await page.getByTestId('confirm-ok').click();
  await waitFor('the row shows the order refunded', () =>
    row.locator('[data-testid="order-status"][data-status="refunded"]').waitFor({timeout: WAIT_MS}));
  is(await row.getByTestId('order-refund').count(), 0, 'a refunded order offers no Refund');
  await shot('orders');
  const o = await apiGet(`/v1/orders/${orderId}`);
  is(`${o.status} ${o.body.order_status}`, '200 refunded', `GET /v1/orders/${orderId} says refunded`);

  await row.getByTestId('order-events').click();
  const dialog = page.getByTestId('events-dialog');
  await waitFor('Events opens the event history', () => dialog.waitFor({state: 'visible', timeout: WAIT_MS}));
  await waitFor('the history lists three events', () =>
    page.locator('#events-body tr').nth(2).waitFor({timeout: WAIT_MS}));
  const types = await page.getByTestId('event-type').allTextContents();
  is(types.join(','), 'OrderCreated,OrderPaid,OrderRefunded', 'the events are OrderCreated, OrderPaid, OrderRefunded in order');
  const versions = await page.locator('#events-body tr td:first-child').allTextContents();
  is(versions.join(','), '1,2,3', 'their versions are 1, 2, 3');
  await shot('events');
  await page.getByTestId('events-close').click();
  await waitFor('Close closes the history', () => dialog.waitFor({state: 'hidden', timeout: WAIT_MS}));
}

async function commands() {
  await page.getByTestId('nav-commands').click();
  await waitFor('the commands view shows', () =>
    page.getByTestId('view-commands').waitFor({state: 'visible', timeout: WAIT_MS}));
  await page.getByTestId('command-id').fill(commandId);
  await page.getByTestId('command-submit').click();
  await waitFor(`command ${commandId} is shown`, () =>
    page.getByTestId('command-card').waitFor({state: 'visible', timeout: WAIT_MS}));
  is(await page.getByTestId('command-f-id').textContent(), commandId, 'the command id');
  is(await page.getByTestId('command-f-status').textContent(), 'applied', 'its status is applied');
  is(await page.getByTestId('command-f-resource').textContent(), `user #${userId}`, 'its resource is the user');
  is(await page.getByTestId('command-f-error').textContent(), '\u2014', 'it has no error');
  await shot('commands');
  /* an unknown id says so */
  await page.getByTestId('command-id').fill('00000000-0000-4000-8000-000000000000');
  expectedStatus.add(404);
  await page.getByTestId('command-submit').click();
  await waitFor('an unknown command id says "No command"', () =>
    page.getByTestId('command-message').filter({hasText: 'No command'}).waitFor({timeout: WAIT_MS}));
  expectedStatus.delete(404);
}

/* Waits until view \p view has finished loading; fails unless it is 'ready'. */
async function loaded(view, what) {
  await waitFor(`${what}: loading ended`, () =>
    page.waitForFunction((v) => ['ready', 'error'].includes(document.getElementById(`view-${v}`).dataset.state),
                         view, {timeout: WAIT_MS}));
  const state = await page.getByTestId(`view-${view}`).getAttribute('data-state');
  const msg = await page.locator(`#view-${view} .message`).first().textContent();
  is(state, 'ready', `${what} without an error`, msg);
}

/* The dead letters with key \p key, as the API lists them. */
async function lettersWithKey(key) {
  const r = await apiGet('/v1/admin/dead-letters?limit=500');
  return (r.body.dead_letters || []).filter((d) => d.key === key);
}

async function deadLetters() {
  await page.getByTestId('nav-dead-letters').click();
  await waitFor('the dead-letters view shows', () =>
    page.getByTestId('view-dead-letters').waitFor({state: 'visible', timeout: WAIT_MS}));
  await loaded('dead-letters', 'the dead letters loaded');
  const rows = page.locator('#dlq-body tr').filter({hasText: dlqKey});
  is(await rows.count(), 1, `one dead letter has key ${dlqKey}`);
  const cells = await rows.first().locator('td').allTextContents();
  check(/^[0-9]+:[0-9]+$/.test(cells[0]), 'its partition:offset shows', cells[0]);
  check(cells[3] && cells[3] !== '\u2014', 'its error header shows', cells[3]);
  check(cells[4].startsWith(`${dlqTopic}partition `), 'its original topic and partition show', cells[4]);
  check(cells[6].startsWith('not a command'), 'it is shown as no command', cells[6]);

  await rows.first().getByTestId('dlq-redrive').click();
  await waitFor('Redrive asks for confirmation', () =>
    page.getByTestId('confirm-dialog').waitFor({state: 'visible', timeout: WAIT_MS}));
  await page.getByTestId('confirm-ok').click();
  await waitFor('the panel says one message was redriven', () =>
    page.getByTestId('dlq-message').filter({hasText: 'Redriven: 1 message'}).waitFor({timeout: 30000}));
  /* sent back to its topic, the worker dead-letters it once more */
  let again = 0;
  for (let i = 0; i < 30 && again < 2; i++) {
    again = (await lettersWithKey(dlqKey)).length;
    if (again < 2) await new Promise((r) => setTimeout(r, 1000));
  }
  is(again, 2, 'the redriven message went through the worker and is a dead letter again');
  await page.getByTestId('dlq-refresh').click();
  await loaded('dead-letters', 'the dead letters reloaded');
  is(await rows.count(), 2, 'Refresh lists both dead letters of that key');
  await shot('dead-letters');
}

async function live() {
  await page.getByTestId('nav-live').click();
  await waitFor('the live view shows', () =>
    page.getByTestId('view-live').waitFor({state: 'visible', timeout: WAIT_MS}));
  await waitFor('the stats refreshed', () =>
    page.waitForFunction(() => Number(document.getElementById('view-live').dataset.refreshes) >= 1,
                         null, {timeout: WAIT_MS}));
  /* five writes: the next samples' accepted/s must see them */
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${base}/v1/users`, {
      method: 'POST',
      headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json'},
      body: JSON.stringify({email: `${pagingPrefix}${i}@example.com`, username: `live ${i}`}),
      signal: AbortSignal.timeout(10000),
    });
    check(r.status === 202, `write ${i + 1} of 5 answers 202`, `got ${r.status}`);
  }
  await waitFor('accepted/s rises above 0 after the writes', () =>
    page.waitForFunction(() => Number(document.getElementById('live-accepted').textContent) > 0,
                         null, {timeout: WAIT_MS}));
  await waitFor('the stats refreshed again (every 2 s)', () =>
    page.waitForFunction(() => Number(document.getElementById('view-live').dataset.refreshes) >= 4,
                         null, {timeout: WAIT_MS}));
  const number = /^[0-9][0-9,]*(\.[0-9])?$/;
  for (const s of ['accepted', 'applied', 'lag', 'backlog']) {
    const text = (await page.getByTestId(`live-${s}`).textContent()).trim();
    check(number.test(text), `${s} shows a number`, `got "${text}"`);
  }
  check((await page.getByTestId('live-updated').textContent()).includes('UTC'),
        'the time of the last sample shows');
  const painted = await page.evaluate(() => {
    const c = document.getElementById('live-chart-applied');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
    return n;
  });
  check(painted > 0, 'the applied/s chart is drawn', `${painted} painted pixels`);
  await shot('live');
}

/* Two users a page: pages 1, 2, 3 (one user), then back. */
async function paging() {
  const ids = async () => (await page.locator('#users-body tr').evaluateAll(
    (rows) => rows.map((r) => r.dataset.userId))).join(',');
  const pageOf = async (what, want) => {
    await loaded('users', what);
    is(await ids(), want, `${what}: users ${want}`);
  };
  let all = [];
  for (let i = 0; i < 30 && all.length < 5; i++) {
    const r = await apiGet(`/v1/admin/users?q=${encodeURIComponent(pagingPrefix)}&limit=100`);
    all = (r.body.users || []).map((u) => String(u.user_id));
    if (all.length < 5) await new Promise((res) => setTimeout(res, 1000));
  }
  is(all.length, 5, 'the five users of the live step are registered');
  await page.goto(`${base}/admin/#users?q=${encodeURIComponent(pagingPrefix)}&limit=2`, {timeout: WAIT_MS});
  await pageOf('page 1', all.slice(0, 2).join(','));
  is(await page.getByTestId('users-prev').isDisabled(), true, 'page 1 has no Previous');
  await page.getByTestId('users-next').click();
  await pageOf('Next: page 2', all.slice(2, 4).join(','));
  await page.getByTestId('users-next').click();
  await pageOf('Next: page 3', all.slice(4).join(','));
  is(await page.getByTestId('users-next').isDisabled(), true, 'the last page has no Next');
  await page.getByTestId('users-prev').click();
  await pageOf('Previous: page 2 again', all.slice(2, 4).join(','));
  await page.getByTestId('users-prev').click();
  await pageOf('Previous: page 1 again', all.slice(0, 2).join(','));
  is((await page.getByTestId('users-page').textContent()).startsWith('Page 1'), true, 'the pager says page 1');
}

async function signOut() {
  await page.getByTestId('sign-out').click();
  await waitFor('Sign out returns to the sign-in form', () =>
    page.getByTestId('view-signin').waitFor({state: 'visible', timeout: WAIT_MS}));
  is(await page.evaluate(() => sessionStorage.length), 0, 'signing out forgets the token');
  await page.reload({timeout: WAIT_MS});
  await waitFor('after a reload the panel still asks to sign in', () =>
    page.getByTestId('view-signin').waitFor({state: 'visible', timeout: WAIT_MS}));
}

/* A user's JWT is refused with 403; an admin API key goes in as X-API-Key. */
async function otherCredentials() {
  await page.getByTestId('signin-kind').selectOption('jwt');
  await page.getByTestId('signin-secret').fill(userToken);
  expectedStatus.add(403);
  await page.getByTestId('signin-submit').click();
  await waitFor('a user\'s token is refused with 403', () =>
    page.getByTestId('signin-message').filter({hasText: '403'}).waitFor({timeout: WAIT_MS}));
  expectedStatus.delete(403);
  is(await page.getByTestId('view-users').isVisible(), false, 'the refused token shows no data');

  const sent = [];
  const onRequest = (req) => {
    if (req.url().includes('/v1/admin/')) sent.push(req.headers());
  };
  page.on('request', onRequest);
  await page.getByTestId('signin-kind').selectOption('apikey');
  await page.getByTestId('signin-secret').fill(apiKey);
  await page.getByTestId('signin-submit').click();
  await loaded('users', 'signed in with the API key: users');
  page.off('request', onRequest);
  check(sent.length > 0 && sent.every((h) => h['x-api-key'] === apiKey && !h.authorization),
        'the API key goes out as X-API-Key, without Authorization', `${sent.length} requests`);
  is(await page.getByTestId('session-kind').textContent(), 'API key', 'the session says API key');
  await page.getByTestId('sign-out').click();
  await waitFor('and signs out again', () =>
    page.getByTestId('view-signin').waitFor({state: 'visible', timeout: WAIT_MS}));
}

async function main() {
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update',
                '--disable-sync'];
  if (marker) args.push(marker);
  browser = await chromium.launch({executablePath: '/usr/bin/chromium', args, timeout: 60000});
  const context = await browser.newContext({viewport: {width: 1280, height: 800}});
  context.setDefaultTimeout(WAIT_MS);
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    /* chromium logs each 4xx the page fetched; some are the point */
    const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(m.text());
    if (status && expectedStatus.has(Number(status[1]))) return;
    consoleErrors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  ok(`chromium ${browser.version()} started`);

  await signIn();
  await users();
  await orders();
  await commands();
  await deadLetters();
  await live();
  await paging();
  await signOut();
  await otherCredentials();
  check(consoleErrors.length === 0, 'no console errors on any page', consoleErrors.join(' | '));
}

let rc = 0;
const overall = setTimeout(() => {
  console.log(`not ok - the script did not finish within ${TOTAL_MS / 1000} s`);
  /* playwright kills the browsers it launched on exit */
  process.exit(1);
}, TOTAL_MS);
try {
  await main();
  console.log(`1..${n}`);
} catch (e) {
  rc = 1;
  if (!(e instanceof CheckFailed)) console.log(`not ok - ${e.stack || e}`);
  if (page) {
    try {
      await shot('failure');
    } catch (e2) {
      console.log(`# no failure screenshot: ${e2.message}`);
    }
  }
  console.log(consoleErrors.length ? '# console errors of the page:' : '# no console errors');
  for (const line of consoleErrors) console.log(`#   ${line}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(overall);
}
process.exit(rc);
