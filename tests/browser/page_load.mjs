/*
 * How long the admin panel's Orders page takes to load, in Debian's
 * chromium (playwright-core): from the start of navigation to the orders
 * table filled with its first page (the view's data-state "ready", rows
 * drawn), read from the page's own performance.now(). Each view is loaded
 * RUNS times (default 5) after one warm-up, the browser cache bypassed by a
 * full reload each time; prints one line per view with the median and the
 * max in ms, and a JSON line at the end. Run by tests/bench/admin_orders_1m.sh:
 *   ORDERFLOW_API_URL, ORDERFLOW_ADMIN_TOKEN, [RUNS], [ORDERFLOW_PAGE_VIEWS]
 *   (comma-separated hash routes, default "orders,orders?status=paid,
 *   orders?type=vip,orders?user_id=1").
 */
import { chromium } from 'playwright-core';

const WAIT_MS = 30000;
const base = (process.env.ORDERFLOW_API_URL || '').replace(/\/$/, '');
const token = process.env.ORDERFLOW_ADMIN_TOKEN;
const runs = Number(process.env.RUNS || 5);
const views = (process.env.ORDERFLOW_PAGE_VIEWS ||
               'orders,orders?status=paid,orders?type=vip,orders?user_id=1').split(',');
if (!base || !token) {
  console.error('page_load.mjs: ORDERFLOW_API_URL and ORDERFLOW_ADMIN_TOKEN are required');
  process.exit(2);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/* One load of #view: ms from navigation start to a filled orders table. */
async function loadOnce(page, view) {
  await page.goto(`${base}/admin/#${view}`, {timeout: WAIT_MS});
  await page.reload({timeout: WAIT_MS}); /* a fresh document, the hash kept */
  const t = await page.waitForFunction(() => {
    const v = document.getElementById('view-orders');
    const rows = document.querySelectorAll('#orders-body tr[data-order-id]').length;
    if (v && v.dataset.state === 'error') return -1;
    return v && v.dataset.state === 'ready' && rows > 0 ? performance.now() : 0;
  }, null, {timeout: WAIT_MS, polling: 'raf'});
  const ms = await t.jsonValue();
  if (ms < 0) throw new Error(`#${view}: the view ended in an error`);
  return {ms, rows: await page.locator('#orders-body tr[data-order-id]').count()};
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const result = {};
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/admin/`, {timeout: WAIT_MS});
  await page.getByTestId('signin-kind').selectOption('jwt');
  await page.getByTestId('signin-secret').fill(token);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('nav-users').waitFor({state: 'visible', timeout: WAIT_MS});
  for (const view of views) {
    await loadOnce(page, view); /* warm-up: the API's connections, caches */
    const ms = [];
    let rows = 0;
    for (let i = 0; i < runs; i++) {
      const r = await loadOnce(page, view);
      ms.push(r.ms);
      rows = r.rows;
    }
    result[view] = {median_ms: +median(ms).toFixed(1), max_ms: +Math.max(...ms).toFixed(1), rows};
    console.log(`   page #${view.padEnd(24)} ${rows} rows: median ${median(ms).toFixed(1)} ms, ` +
                `max ${Math.max(...ms).toFixed(1)} ms (${runs} loads)`);
  }
  console.log(JSON.stringify({page_load: result}));
} finally {
  await browser.close();
}
