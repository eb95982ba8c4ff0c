/*
 * The orderflow admin panel: one page, hash routes (#users, #orders,
 * #commands, #dead-letters, #live), every datum fetched from /v1/... with
 * the credential given at sign-in.
 *
 * Rules this file keeps:
 * - The credential lives in sessionStorage only (this tab, until sign-out
 *   or the tab closes) and goes out as "Authorization: Bearer" (a JWT) or
 *   "X-API-Key"; a 401 or 403 anywhere drops it and returns to sign-in.
 * - Data reaches the page through textContent and attributes only, never
 *   as markup, so no field of a user, order or dead letter can inject any
 *   (the CSP would stop an inline script anyway).
 * - Every request has a time limit, and a view ignores the answer of a
 *   request it has since replaced (a newer search, another page).
 * - Writes are confirmed first and sent with "Prefer: wait=5", so the row
 *   shows the outcome (200 the resource, 409 the rejection) rather than a
 *   command id, except when the worker did not finish within 5 s (202).
 */

const AUTH_KEY = 'orderflow.admin.auth';
const PAGE_SIZE = 20;
const LIVE_INTERVAL_MS = 2000;
const LIVE_POINTS = 60;
const VIEWS = ['users', 'orders', 'commands', 'dead-letters', 'live'];

const $ = (id) => document.getElementById(id);

/* ---- DOM helpers: text only ---- */

/*
 * el('td', {class: 'num', text: '42', title: '...'}, child...): an element
 * with properties set as text or attributes; children are nodes or strings
 * (appended as text nodes).
 */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

/* A status line: kind is '', 'loading', 'ok', 'warn' or 'error'. */
function say(id, kind, ...parts) {
  const node = $(id);
  node.replaceChildren(...parts);
  node.className = 'message' + (kind ? ' ' + kind : '');
}

/* The one row of an empty table, saying why it is empty. */
function emptyRow(cols, text) {
  return el('tr', {class: 'empty'}, el('td', {colspan: cols, text}));
}

/* A view's data-state: 'loading', 'ready' or 'error' (tests wait on it). */
function setState(view, state) {
  $(`view-${view}`).dataset.state = state;
}

function fmtTime(value) {
  if (value === null || value === undefined || value === '') return '\u2014';
  if (typeof value === 'number') value = new Date(value).toISOString();
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)$/
    .exec(String(value));
  if (!m) return String(value);
  return `${m[1]} ${m[2]}${m[3] === 'Z' ? ' UTC' : ' ' + m[3]}`;
}

function timeCell(value) {
  return el('td', {class: 'time', text: fmtTime(value),
                   title: value === null ? null : value});
}

const numberFormat = new Intl.NumberFormat('en-US', {maximumFractionDigits: 1});

function fmtNumber(value) {
  return typeof value === 'number' && Number.isFinite(value)
    ? numberFormat.format(value) : '\u2014';
}

function badge(text, kind) {
  return el('span', {class: `badge ${kind || ''}`.trim(), text});
}

const STATUS_KIND = {
  pending: 'warn', paid: 'ok', refunded: 'info', cancelled: 'muted',
  accepted: 'warn', applied: 'ok', rejected: 'bad',
};

/* ---- the credential ---- */

let auth = loadAuth();

function loadAuth() {
  try {
    const a = JSON.parse(sessionStorage.getItem(AUTH_KEY));
    if (a && (a.kind === 'jwt' || a.kind === 'apikey') &&
        typeof a.secret === 'string' && a.secret !== '') return a;
  } catch (e) {
    /* nothing stored, or not ours: signed out */
  }
  return null;
}

/* The claims of a JWT, for display only (the API checks the signature). */
function jwtClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - part.length % 4) % 4)));
  } catch (e) {
    return null;
  }
}

function showSession() {
  const kind = $('session-kind');
  if (auth.kind === 'apikey') {
    kind.textContent = 'API key';
    return;
  }
  const claims = jwtClaims(auth.secret);
  let text = 'JWT';
  if (claims && claims.sub !== undefined) text += ` \u00b7 sub ${claims.sub}`;
  if (claims && typeof claims.exp === 'number') {
    text += ` \u00b7 expires ${fmtTime(new Date(claims.exp * 1000).toISOString())}`;
  }
  kind.textContent = text;
}

/* Forget the credential and show sign-in, with \p why (or nothing). */
function signOut(why, kind) {
  auth = null;
  sessionStorage.removeItem(AUTH_KEY);
  stopLive();
  say('signin-message', why ? kind || 'error' : '', why || '');
  route();
}

/* ---- the API ---- */

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/* The error a non-2xx answer carries ({"error": {code, message}}). */
function answerError(r) {
  const e = r.data && r.data.error;
  return new ApiError(r.status, e && e.code ? e.code : `http_${r.status}`,
                      e && e.message ? e.message : `HTTP ${r.status}`);
}

/*
 * One request to the API with the credential. Resolves {status, data}
 * (data the parsed JSON body or null) for any HTTP answer but 401/403,
 * which sign out; rejects with an ApiError on those, on a network error
 * and after timeoutMs.
 */
async function api(method, path, {body, wait, timeoutMs = 15000} = {}) {
  if (!auth) throw new ApiError(401, 'unauthenticated', 'signed out');
  const headers = {Accept: 'application/json'};
  if (auth.kind === 'jwt') headers.Authorization = `Bearer ${auth.secret}`;
  else headers['X-API-Key'] = auth.secret;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (wait) headers.Prefer = `wait=${wait}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let resp;
  let text;
  try {
    resp = await fetch(path, {
      method, headers, cache: 'no-store', credentials: 'omit',
      redirect: 'error', signal: abort.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    text = await resp.text();
  } catch (e) {
    throw new ApiError(0, 'network', e.name === 'AbortError'
      ? `no answer from the API within ${timeoutMs / 1000} s`
      : `could not reach the API (${e.message})`);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  const r = {status: resp.status, data};
  if (resp.status === 401 || resp.status === 403) {
    const err = answerError(r);
    /* signing in, nothing is stored yet */
    const was = sessionStorage.getItem(AUTH_KEY) !== null ? 'Signed out' : 'Not signed in';
    signOut(resp.status === 401
      ? `${was}: the API did not accept the credential (401 ${err.code}: ${err.message}). Check it; a token may have expired.`
      : `${was}: this credential is not an admin's (403 ${err.code}: ${err.message}).`);
    throw err;
  }
  return r;
}

/* api() that also rejects any answer but 2xx. */
async function apiOk(method, path, opts) {
  const r = await api(method, path, opts);
  if (r.status < 200 || r.status > 299) throw answerError(r);
  return r.data;
}

/*
 * A write with "Prefer: wait=5": {outcome: 'applied', data} (200/201),
 * 'rejected' with the error (409), or 'pending' with the command id (202:
 * the worker did not finish in time). Other answers reject.
 */
async function write(path, body) {
  const r = await api('POST', path, {body: body || {}, wait: 5, timeoutMs: 20000});
  if (r.status === 200 || r.status === 201) return {outcome: 'applied', data: r.data};
  if (r.status === 202) {
    return {outcome: 'pending', commandId: r.data && r.data.command_id};
  }
  if (r.status === 409) {
    const e = answerError(r);
    return {outcome: 'rejected', code: e.code, message: e.message};
  }
  throw answerError(r);
}

/* An error for a status line; a sign-out already said why. */
function sayError(id, what, e) {
  if (!auth) return;
  const where = e.status ? ` (${e.status} ${e.code})` : '';
  say(id, 'error', `${what}: ${e.message}${where}`);
}

/* "Accepted, not applied within 5 s" with a link to the command. */
function sayPending(id, what, commandId) {
  say(id, 'warn', `${what}: accepted, not applied within 5 s; see command `,
      el('a', {href: `#commands?id=${encodeURIComponent(commandId || '')}`,
               class: 'mono', text: commandId || '?'}),
      '.');
}

/* ---- confirmation ---- */

/* Resolves true if the operator confirmed \p text in the dialog. */
function confirmAction(text, okLabel) {
  const dialog = $('confirm-dialog');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel || 'Confirm';
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'),
                            {once: true});
    dialog.showModal();
  });
}

/* Runs \p action with \p button disabled and saying \p busy meanwhile. */
async function busyButton(button, busy, action) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = busy;
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

/* ---- routing ---- */

function parseHash() {
  const hash = location.hash.replace(/^#/, '');
  const q = hash.indexOf('?');
  const name = q < 0 ? hash : hash.slice(0, q);
  return {
    view: VIEWS.includes(name) ? name : 'users',
    params: new URLSearchParams(q < 0 ? '' : hash.slice(q + 1)),
  };
}

/* Go to \p hash; the same hash again reloads the view. */
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showView(name) {
  for (const section of document.querySelectorAll('main > .view')) {
    section.hidden = section.id !== `view-${name}`;
  }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/* Close the dialogs: a route change (a link, Back) leaves them behind. */
function closeDialogs() {
  if ($('events-dialog').open) $('events-dialog').close();
  if ($('confirm-dialog').open) $('confirm-dialog').close('cancel');
}

function route() {
  stopLive();
  closeDialogs();
  const signedIn = auth !== null;
  $('nav').hidden = !signedIn;
  $('session').hidden = !signedIn;
  if (!signedIn) {
    showView('signin');
    document.title = 'Sign in \u00b7 orderflow admin';
    $('signin-secret').focus();
    return;
  }
  showSession();
  const {view, params} = parseHash();
  showView(view);
  document.title = `${$(`view-${view}`).querySelector('h1').textContent} \u00b7 orderflow admin`;
  const enter = {
    users: usersEnter, orders: ordersEnter, commands: commandsEnter,
    'dead-letters': dlqEnter, live: liveEnter,
  }[view];
  enter(params);
}

/* ---- sign-in ---- */

async function onSignIn(event) {
  event.preventDefault();
  const kind = $('signin-kind').value;
  const secret = $('signin-secret').value.trim();
  if (!secret) {
    say('signin-message', 'error', 'Enter a token or an API key.');
    return;
  }
  auth = {kind, secret};
  say('signin-message', 'loading', 'Checking the credential\u2026');
  try {
    /* any admin endpoint tells whether the credential is an admin's */
    await apiOk('GET', '/v1/admin/users?limit=1');
  } catch (e) {
    if (auth) {
      auth = null;
      sayError('signin-message', 'Could not sign in', e);
    }
    return;
  }
  sessionStorage.setItem(AUTH_KEY, JSON.stringify(auth));
  $('signin-secret').value = '';
  say('signin-message', '', '');
  route();
}

/* ---- pagination: a stack of cursors, one per page seen ---- */

/* The page size: PAGE_SIZE, or 1..100 from the route's "limit". */
function pageSize(params) {
  const n = Number(params.get('limit'));
  return Number.isInteger(n) && n >= 1 && n <= 100 ? n : PAGE_SIZE;
}

function makePager() {
  return {cursors: [null], page: 0, next: null, seq: 0};
}

function pagerReset(p) {
  p.cursors = [null];
  p.page = 0;
  p.next = null;
}

function pagerShow(p, prefix, count, noun) {
  $(`${prefix}-prev`).disabled = p.page === 0;
  $(`${prefix}-next`).disabled = !p.next;
  $(`${prefix}-page`).textContent =
    `Page ${p.page + 1} \u00b7 ${count} ${noun}${count === 1 ? '' : 's'}`;
}

function pagerBusy(prefix) {
  $(`${prefix}-prev`).disabled = true;
  $(`${prefix}-next`).disabled = true;
}

/* ---- users ---- */

const users = {q: '', limit: PAGE_SIZE, pager: makePager()};

function usersEnter(params) {
  users.q = params.get('q') || '';
  users.limit = pageSize(params);
  $('users-q').value = users.q;
  pagerReset(users.pager);
  usersLoad();
}

async function usersLoad() {
  const p = users.pager;
  const seq = ++p.seq;
  const qs = new URLSearchParams({limit: String(users.limit)});
  if (users.q) qs.set('q', users.q);
  if (p.cursors[p.page]) qs.set('cursor', p.cursors[p.page]);
  pagerBusy('users');
  setState('users', 'loading');
  say('users-message', 'loading', 'Loading users\u2026');
  try {
    const data = await apiOk('GET', `/v1/admin/users?${qs}`);
    if (seq !== p.seq) return;
    const list = Array.isArray(data && data.users) ? data.users : [];
    p.next = data.next_cursor || null;
    $('users-body').replaceChildren(...(list.length ? list.map(userRow) : [emptyRow(7,
      users.q ? `No user's email or username starts with \u201c${users.q}\u201d.` : 'No users yet.')]));
    pagerShow(p, 'users', list.length, 'user');
    say('users-message', '', '');
    setState('users', 'ready');
  } catch (e) {
    if (seq !== p.seq) return;
    $('users-body').replaceChildren();
    pagerShow(p, 'users', 0, 'user');
    sayError('users-message', 'Could not load users', e);
    setState('users', 'error');
  }
}

function userRow(u) {
  const tr = el('tr', {'data-testid': `user-row-${u.user_id}`, 'data-user-id': u.user_id});
  fillUserRow(tr, u);
  return tr;
}

function fillUserRow(tr, u) {
  const banned = u.is_banned === true;
  const action = el('button', {
    type: 'button', class: banned ? 'secondary small' : 'danger small',
    text: banned ? 'Unban' : 'Ban', 'data-testid': banned ? 'user-unban' : 'user-ban',
  });
  action.addEventListener('click', () => banUser(u, !banned, action));
  tr.replaceChildren(
    el('td', {class: 'num', text: u.user_id}),
    el('td', {class: 'email', text: u.email, 'data-testid': 'user-email'}),
    el('td', {text: u.username}),
    timeCell(u.registration_date),
    el('td', {'data-testid': 'user-banned', 'data-banned': String(banned)},
       badge(banned ? 'banned' : 'active', banned ? 'bad' : 'ok')),
    el('td', {class: 'num', text: u.version}),
    el('td', {class: 'actions-col'},
       action, ' ',
       el('a', {href: `#orders?user_id=${encodeURIComponent(u.user_id)}`,
                class: 'button-link small', text: 'Orders', 'data-testid': 'user-orders'})));
}

async function banUser(u, ban, button) {
  const verb = ban ? 'Ban' : 'Unban';
  const ok = await confirmAction(
    `${verb} user #${u.user_id} (${u.email})?` +
    (ban ? ' A banned user cannot place orders.' : ''), verb);
  if (!ok) return;
  const what = `${verb} user #${u.user_id}`;
  say('users-message', 'loading', `${what}\u2026`);
  try {
    const r = await busyButton(button, ban ? 'Banning\u2026' : 'Unbanning\u2026',
      () => write(`/v1/users/${encodeURIComponent(u.user_id)}/${ban ? 'ban' : 'unban'}`));
    if (r.outcome === 'applied') {
      const tr = button.closest('tr');
      if (tr && r.data && r.data.user_id !== undefined) fillUserRow(tr, r.data);
      say('users-message', 'ok', `User #${u.user_id} ${ban ? 'banned' : 'unbanned'}.`);
    } else if (r.outcome === 'rejected') {
      say('users-message', 'error', `${what} was rejected: ${r.code} (${r.message}).`);
    } else {
      sayPending('users-message', what, r.commandId);
    }
  } catch (e) {
    sayError('users-message', `${what} failed`, e);
  }
}

/* ---- orders ---- */

const orders = {filter: {}, limit: PAGE_SIZE, pager: makePager()};
const ORDER_FILTERS = ['status', 'type', 'user_id', 'from', 'to'];
const DATE_RE = /^\d{4}-\d\d-\d\d$/;

function ordersEnter(params) {
  const f = {};
  for (const key of ORDER_FILTERS) {
    const v = (params.get(key) || '').trim();
    if (v) f[key] = v;
  }
  orders.filter = f;
  orders.limit = pageSize(params);
  $('orders-status').value = f.status || '';
  $('orders-type').value = f.type || '';
  $('orders-user').value = f.user_id || '';
  $('orders-from').value = f.from || '';
  $('orders-to').value = f.to || '';
  pagerReset(orders.pager);
  ordersLoad();
}

/* The day after YYYY-MM-DD, as YYYY-MM-DD (UTC). */
function nextDay(day) {
  const t = Date.parse(`${day}T00:00:00Z`) + 86400000;
  return new Date(t).toISOString().slice(0, 10);
}

/* The query of the filter, or an error message. */
function ordersQuery(f) {
  const qs = new URLSearchParams({limit: String(orders.limit)});
  if (f.status) qs.set('status', f.status);
  if (f.type) qs.set('type', f.type);
  if (f.user_id) {
    if (!/^[1-9][0-9]*$/.test(f.user_id)) return {error: 'The user ID must be a positive integer.'};
    qs.set('user_id', f.user_id);
  }
  for (const key of ['from', 'to']) {
    if (f[key] && (!DATE_RE.test(f[key]) || Number.isNaN(Date.parse(f[key])))) {
      return {error: `\u201c${key}\u201d must be a date (YYYY-MM-DD).`};
    }
  }
  if (f.from && f.to && f.from > f.to) return {error: '\u201cFrom\u201d is after \u201cto\u201d.'};
  /* from <= created_at < to: the "to" day is included, so the bound is
   * the start of the day after it */
  if (f.from) qs.set('from', `${f.from}T00:00:00Z`);
  if (f.to) qs.set('to', `${nextDay(f.to)}T00:00:00Z`);
  return {qs};
}

async function ordersLoad() {
  const p = orders.pager;
  const seq = ++p.seq;
  const {qs, error} = ordersQuery(orders.filter);
  if (error) {
    $('orders-body').replaceChildren();
    pagerShow(p, 'orders', 0, 'order');
    say('orders-message', 'error', error);
    setState('orders', 'error');
    return;
  }
  if (p.cursors[p.page]) qs.set('cursor', p.cursors[p.page]);
  pagerBusy('orders');
  setState('orders', 'loading');
  say('orders-message', 'loading', 'Loading orders\u2026');
  try {
    const data = await apiOk('GET', `/v1/admin/orders?${qs}`);
    if (seq !== p.seq) return;
    const list = Array.isArray(data && data.orders) ? data.orders : [];
    p.next = data.next_cursor || null;
    $('orders-body').replaceChildren(...(list.length ? list.map(orderRow)
      : [emptyRow(9, 'No orders match these filters.')]));
    pagerShow(p, 'orders', list.length, 'order');
    say('orders-message', '', '');
    setState('orders', 'ready');
  } catch (e) {
    if (seq !== p.seq) return;
    $('orders-body').replaceChildren();
    pagerShow(p, 'orders', 0, 'order');
    sayError('orders-message', 'Could not load orders', e);
    setState('orders', 'error');
  }
}

function onOrdersFilter(event) {
  event.preventDefault();
  const f = {
    status: $('orders-status').value, type: $('orders-type').value,
    user_id: $('orders-user').value.trim(), from: $('orders-from').value,
    to: $('orders-to').value,
  };
  const qs = new URLSearchParams();
  for (const key of ORDER_FILTERS) {
    if (f[key]) qs.set(key, f[key]);
  }
  const s = qs.toString();
  go(s ? `#orders?${s}` : '#orders');
}

function orderRow(o) {
  const tr = el('tr', {'data-testid': `order-row-${o.order_id}`, 'data-order-id': o.order_id});
  fillOrderRow(tr, o);
  return tr;
}

function fillOrderRow(tr, o) {
  const actions = el('td', {class: 'actions-col'});
  const events = el('button', {type: 'button', class: 'secondary small', text: 'Events',
                               'data-testid': 'order-events'});
  events.addEventListener('click', () => openEvents(o.order_id));
  actions.append(events);
  if (o.order_status === 'paid') {
    const b = el('button', {type: 'button', class: 'danger small', text: 'Refund',
                            'data-testid': 'order-refund'});
    b.addEventListener('click', () => orderAction(o, 'refund', b));
    actions.append(' ', b);
  }
  if (o.order_status === 'pending') {
    const b = el('button', {type: 'button', class: 'danger small', text: 'Cancel',
                            'data-testid': 'order-cancel'});
    b.addEventListener('click', () => orderAction(o, 'cancel', b));
    actions.append(' ', b);
  }
  tr.replaceChildren(
    el('td', {class: 'num', text: o.order_id}),
    el('td', {class: 'num'},
       el('a', {href: `#orders?user_id=${encodeURIComponent(o.user_id)}`, text: o.user_id,
                title: `orders of user #${o.user_id}`})),
    el('td', {text: o.order_type}),
    el('td', {'data-testid': 'order-status', 'data-status': o.order_status},
       badge(o.order_status, STATUS_KIND[o.order_status])),
    el('td', {class: 'num mono', text: o.total_amount}),
    timeCell(o.created_at),
    timeCell(o.updated_at),
    el('td', {class: 'num', text: o.version}),
    actions);
}

async function orderAction(o, action, button) {
  const label = action === 'refund' ? 'Refund' : 'Cancel';
  const ok = await confirmAction(
    action === 'refund'
      ? `Refund order #${o.order_id} (${o.total_amount}, user #${o.user_id})?`
      : `Cancel order #${o.order_id} (${o.total_amount}, user #${o.user_id})?`,
    action === 'refund' ? 'Refund' : 'Cancel order');
  if (!ok) return;
  const what = `${label} order #${o.order_id}`;
  say('orders-message', 'loading', `${what}\u2026`);
  try {
    const r = await busyButton(button, action === 'refund' ? 'Refunding\u2026' : 'Cancelling\u2026',
      () => write(`/v1/orders/${encodeURIComponent(o.order_id)}/${action}`));
    if (r.outcome === 'applied') {
      const tr = button.closest('tr');
      if (tr && r.data && r.data.order_id !== undefined) fillOrderRow(tr, r.data);
      say('orders-message', 'ok',
          `Order #${o.order_id} ${action === 'refund' ? 'refunded' : 'cancelled'}.`);
    } else if (r.outcome === 'rejected') {
      say('orders-message', 'error', `${what} was rejected: ${r.code} (${r.message}).`);
    } else {
      sayPending('orders-message', what, r.commandId);
    }
  } catch (e) {
    sayError('orders-message', `${what} failed`, e);
  }
}

/* ---- an order's events ---- */

let eventsSeq = 0;

async function openEvents(orderId) {
  const seq = ++eventsSeq;
  $('events-title').textContent = `Order #${orderId}: event history`;
  $('events-body').replaceChildren();
  say('events-message', 'loading', 'Loading events\u2026');
  if (!$('events-dialog').open) $('events-dialog').showModal();
  try {
    const data = await apiOk('GET', `/v1/admin/orders/${encodeURIComponent(orderId)}/events`);
    if (seq !== eventsSeq) return;
    const list = Array.isArray(data && data.events) ? data.events : [];
    $('events-body').replaceChildren(...list.map((ev) => el('tr',
      {'data-testid': 'event-row', 'data-type': ev.type},
      el('td', {class: 'num', text: ev.version}),
      el('td', {'data-testid': 'event-type', text: ev.type}),
      timeCell(ev.occurred_at),
      el('td', {class: 'mono small-text nowrap'},
         ev.command_id ? el('a', {href: `#commands?id=${encodeURIComponent(ev.command_id)}`,
                                  text: `${String(ev.command_id).slice(0, 8)}\u2026`,
                                  title: ev.command_id, 'data-testid': 'event-command'})
           : '\u2014'),
      el('td', {class: 'mono small-text nowrap', text: ev.trace_id || '\u2014'}),
      el('td', {}, ev.published_at
        ? el('span', {title: ev.published_at}, badge('published', 'ok'), ' ', fmtTime(ev.published_at))
        : badge('not yet', 'warn')))));
    if (list.length === 0) $('events-body').replaceChildren(emptyRow(6, 'No events.'));
    say('events-message', '', list.length ? `${list.length} event${list.length === 1 ? '' : 's'}, oldest first.` : '');
  } catch (e) {
    if (seq !== eventsSeq) return;
    sayError('events-message', 'Could not load the events', e);
  }
}

/* ---- commands ---- */

let commandSeq = 0;

function commandsEnter(params) {
  const id = (params.get('id') || '').trim();
  $('command-id').value = id;
  if (id) {
    commandLookup(id);
  } else {
    $('command-card').hidden = true;
    say('command-message', '', 'Enter the command id of a 202 answer (its Location header).');
    $('command-id').focus();
  }
}

async function commandLookup(id) {
  const seq = ++commandSeq;
  $('command-card').hidden = true;
  setState('commands', 'loading');
  say('command-message', 'loading', 'Looking up the command\u2026');
  try {
    const r = await api('GET', `/v1/commands/${encodeURIComponent(id)}`);
    if (seq !== commandSeq) return;
    if (r.status === 404) {
      say('command-message', 'warn', `No command ${id}: unknown, or older than its 24 h retention.`);
      setState('commands', 'ready');
      return;
    }
    if (r.status !== 200) throw answerError(r);
    const c = r.data || {};
    $('command-f-id').textContent = c.command_id || id;
    const status = $('command-f-status');
    status.textContent = c.status || '?';
    status.className = `badge ${STATUS_KIND[c.status] || ''}`.trim();
    $('command-f-resource').textContent = c.resource_type
      ? `${c.resource_type} #${c.resource_id === null || c.resource_id === undefined ? '?' : c.resource_id}`
      : '\u2014';
    $('command-f-error').textContent = c.error
      ? `${c.error.code}: ${c.error.message}` : '\u2014';
    $('command-f-accepted').textContent = fmtTime(c.accepted_at);
    $('command-f-completed').textContent = c.completed_at ? fmtTime(c.completed_at) : 'not yet';
    $('command-card').hidden = false;
    say('command-message', '', '');
    setState('commands', 'ready');
  } catch (e) {
    if (seq !== commandSeq) return;
    sayError('command-message', 'Could not look up the command', e);
    setState('commands', 'error');
  }
}

function onCommandSubmit(event) {
  event.preventDefault();
  const id = $('command-id').value.trim();
  if (!id) {
    say('command-message', 'error', 'Enter a command id.');
    return;
  }
  go(`#commands?id=${encodeURIComponent(id)}`);
}

/* ---- dead letters ---- */

let dlqSeq = 0;

function dlqEnter() {
  dlqLoad();
}

function dlqLimit() {
  const n = Number.parseInt($('dlq-limit').value, 10);
  return Number.isInteger(n) && n >= 1 && n <= 500 ? n : 50;
}

/* One line for a decoded command (or what the API said of the value). */
function commandSummary(c) {
  if (c === null || c === undefined) return '\u2014';
  if (typeof c !== 'object') return String(c);
  const parts = [];
  if (c.type) parts.push(c.type);
  for (const key of ['order_id', 'user_id', 'email']) {
    if (c[key] !== undefined && c[key] !== null) parts.push(`${key} ${c[key]}`);
  }
  if (c.command_id) parts.push(c.command_id);
  if (c.decode_error) parts.push(`decode error: ${c.decode_error}`);
  if (c.frame) parts.push(`frame: ${c.frame}`);
  if (parts.length) return parts.join(' \u00b7 ');
  const text = JSON.stringify(c);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function dlqRow(d) {
  const h = d.headers && typeof d.headers === 'object' ? d.headers : {};
  const original = h['original-topic']
    ? [el('div', {class: 'mono', text: h['original-topic']}),
       el('div', {class: 'muted small-text',
                  text: `partition ${h['original-partition'] ?? '?'} \u00b7 offset ${h['original-offset'] ?? '?'}`})]
    : ['\u2014'];
  const redrive = el('button', {type: 'button', class: 'secondary small', text: 'Redrive',
                                'data-testid': 'dlq-redrive'});
  redrive.addEventListener('click', () => dlqRedrive(d, redrive));
  return el('tr', {'data-testid': `dlq-row-${d.partition}-${d.offset}`},
    el('td', {class: 'num mono', text: `${d.partition}:${d.offset}`}),
    timeCell(d.timestamp),
    el('td', {class: 'mono key', text: d.key === null || d.key === undefined ? '\u2014' : d.key}),
    el('td', {class: 'wrap', text: h.error || '\u2014'}),
    el('td', {class: 'original small-text', 'data-testid': 'dlq-original'}, ...original),
    el('td', {text: h['message-type'] || '\u2014'}),
    el('td', {class: 'wrap small-text',
              text: d.command ? commandSummary(d.command)
                : `not a command${typeof d.value_size === 'number' ? ` (${d.value_size} bytes)` : ''}`,
              title: d.command ? JSON.stringify(d.command) : null}),
    el('td', {class: 'actions-col'}, redrive));
}

async function dlqLoad() {
  const seq = ++dlqSeq;
  setState('dead-letters', 'loading');
  say('dlq-message', 'loading', 'Loading dead letters\u2026');
  try {
    const data = await apiOk('GET', `/v1/admin/dead-letters?limit=${dlqLimit()}`,
                             {timeoutMs: 30000});
    if (seq !== dlqSeq) return;
    const list = Array.isArray(data && data.dead_letters) ? data.dead_letters : [];
    $('dlq-body').replaceChildren(...(list.length ? list.map(dlqRow)
      : [emptyRow(8, 'No dead letters: every command so far was applied or rejected.')]));
    $('dlq-redrive-all').disabled = list.length === 0;
    say('dlq-message', '', list.length
      ? `${list.length} dead letter${list.length === 1 ? '' : 's'}, oldest first.` : '');
    setState('dead-letters', 'ready');
  } catch (e) {
    if (seq !== dlqSeq) return;
    $('dlq-body').replaceChildren();
    sayError('dlq-message', 'Could not load the dead letters', e);
    setState('dead-letters', 'error');
  }
}

async function dlqRedrive(d, button) {
  const one = d !== null;
  const ok = await confirmAction(one
    ? `Send dead letter ${d.partition}:${d.offset} back to its original topic?`
    : 'Send every dead letter back to its original topic? A command applied already is then only a duplicate, nothing more.',
  one ? 'Redrive' : 'Redrive all');
  if (!ok) return;
  say('dlq-message', 'loading', 'Redriving\u2026');
  try {
    const data = await busyButton(button, 'Redriving\u2026', () => apiOk('POST',
      '/v1/admin/dead-letters/redrive',
      {body: one ? {partition: d.partition, offset: d.offset} : {all: true},
       timeoutMs: 60000}));
    const n = data && typeof data.redriven === 'number' ? data.redriven : '?';
    say('dlq-message', 'ok', `Redriven: ${n} message${n === 1 ? '' : 's'} sent back to ${one ? 'its' : 'their'} original topic${one ? '' : 's'}.`);
  } catch (e) {
    sayError('dlq-message', 'Redrive failed', e);
  }
}

/* ---- live ---- */

const live = {timer: null, seq: 0, prev: null, refreshes: 0, series: {}};
const LIVE_SERIES = ['accepted', 'applied', 'lag', 'backlog'];

function stopLive() {
  live.seq++;
  clearTimeout(live.timer);
  live.timer = null;
}

function liveEnter() {
  live.prev = null;
  live.refreshes = 0;
  for (const s of LIVE_SERIES) live.series[s] = [];
  $('view-live').dataset.refreshes = '0';
  for (const s of LIVE_SERIES) $(`live-${s}`).textContent = '\u2014';
  $('live-updated').textContent = '\u2014';
  $('live-partitions-body').replaceChildren();
  say('live-message', 'loading', 'Waiting for the first sample\u2026');
  drawCharts();
  liveTick(live.seq);
}

function push(name, value) {
  const s = live.series[name];
  s.push(typeof value === 'number' && Number.isFinite(value) ? value : null);
  if (s.length > LIVE_POINTS) s.shift();
}

async function liveTick(seq) {
  try {
    const data = await apiOk('GET', '/v1/admin/stats', {timeoutMs: 5000});
    if (seq !== live.seq) return;
    liveSample(data || {});
    say('live-message', '', '');
  } catch (e) {
    if (seq !== live.seq) return;
    sayError('live-message', 'Could not read the stats (retrying)', e);
  }
  if (seq === live.seq) live.timer = setTimeout(() => liveTick(seq), LIVE_INTERVAL_MS);
}

function liveSample(data) {
  const now = performance.now();
  const total = data.accepted_total;
  let accepted = null;
  /* a rate needs two samples; a smaller total means the API restarted */
  if (live.prev && typeof total === 'number' && total >= live.prev.total) {
    accepted = (total - live.prev.total) / ((now - live.prev.at) / 1000);
  }
  if (typeof total === 'number') live.prev = {total, at: now};
  const lag = data.consumer_lag && typeof data.consumer_lag === 'object'
    ? data.consumer_lag.total : undefined;
  const values = {
    accepted, applied: data.applied_per_s, lag, backlog: data.outbox_backlog,
  };
  for (const s of LIVE_SERIES) {
    push(s, values[s]);
    $(`live-${s}`).textContent = fmtNumber(values[s]);
  }
  const parts = data.consumer_lag && Array.isArray(data.consumer_lag.partitions)
    ? data.consumer_lag.partitions : [];
  $('live-partitions-body').replaceChildren(...(parts.length ? parts.map((p) => el('tr', {},
    el('td', {class: 'mono', text: p.topic}),
    el('td', {class: 'num', text: p.partition}),
    el('td', {class: 'num', text: fmtNumber(p.lag)}))) : [
    el('tr', {}, el('td', {colspan: 3, class: 'muted', text: 'No partitions reported.'}))]));
  live.refreshes++;
  $('view-live').dataset.refreshes = String(live.refreshes);
  $('live-updated').textContent = fmtTime(data.time || new Date().toISOString());
  drawCharts();
}

function drawCharts() {
  for (const s of LIVE_SERIES) drawSpark($(`live-chart-${s}`), live.series[s] || []);
}

/* A sparkline of \p points (nulls are gaps) scaled from 0 to their max. */
function drawSpark(canvas, points) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth || 240));
  const h = Math.max(1, Math.round(canvas.clientHeight || 56));
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(canvas);
  const line = style.getPropertyValue('--spark-line').trim() || '#2458d6';
  const fill = style.getPropertyValue('--spark-fill').trim() || 'rgba(36,88,214,0.12)';
  const grid = style.getPropertyValue('--spark-grid').trim() || '#e3e6ec';
  const pad = 4;
  ctx.strokeStyle = grid;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, h - pad + 0.5);
  ctx.lineTo(w, h - pad + 0.5);
  ctx.stroke();
  const values = points.filter((v) => v !== null);
  if (values.length === 0) return;
  const max = Math.max(1, ...values);
  const step = (w - 2 * pad) / (LIVE_POINTS - 1);
  const x0 = w - pad - (points.length - 1) * step; /* newest at the right */
  const y = (v) => h - pad - (v / max) * (h - 2 * pad - 10);
  let run = [];
  const flush = () => {
    if (run.length === 0) return;
    ctx.beginPath();
    ctx.moveTo(run[0][0], h - pad);
    for (const [px, py] of run) ctx.lineTo(px, py);
    ctx.lineTo(run[run.length - 1][0], h - pad);
    ctx.closePath();
    ctx.fillStyle = fill;
    ctx.fill();
    ctx.beginPath();
    run.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    ctx.strokeStyle = line;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    if (run.length === 1) {
      ctx.fillStyle = line;
      ctx.fillRect(run[0][0] - 1.5, run[0][1] - 1.5, 3, 3);
    }
    run = [];
  };
  points.forEach((v, i) => {
    if (v === null) flush();
    else run.push([x0 + i * step, y(v)]);
  });
  flush();
  ctx.fillStyle = style.getPropertyValue('--spark-text').trim() || '#6b7280';
  ctx.font = '10px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  ctx.fillText(`max ${numberFormat.format(max)}`, pad, 0);
}

/* ---- wiring ---- */

function init() {
  $('signin-form').addEventListener('submit', onSignIn);
  $('sign-out').addEventListener('click', () => signOut('Signed out.', 'ok'));
  $('users-search').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = $('users-q').value.trim();
    go(q ? `#users?q=${encodeURIComponent(q)}` : '#users');
  });
  $('users-prev').addEventListener('click', () => {
    if (users.pager.page > 0) {
      users.pager.page--;
      usersLoad();
    }
  });
  $('users-next').addEventListener('click', () => {
    const p = users.pager;
    if (p.next) {
      p.cursors[p.page + 1] = p.next;
      p.page++;
      usersLoad();
    }
  });
  $('orders-filter').addEventListener('submit', onOrdersFilter);
  $('orders-clear').addEventListener('click', () => go('#orders'));
  $('orders-prev').addEventListener('click', () => {
    if (orders.pager.page > 0) {
      orders.pager.page--;
      ordersLoad();
    }
  });
  $('orders-next').addEventListener('click', () => {
    const p = orders.pager;
    if (p.next) {
      p.cursors[p.page + 1] = p.next;
      p.page++;
      ordersLoad();
    }
  });
  $('events-close').addEventListener('click', () => $('events-dialog').close());
  $('command-form').addEventListener('submit', onCommandSubmit);
  $('dlq-refresh').addEventListener('click', dlqLoad);
  $('dlq-limit').addEventListener('change', dlqLoad);
  $('dlq-redrive-all').addEventListener('click', (event) => dlqRedrive(null, event.currentTarget));
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', drawCharts);
  /* another tab signing out does not sign this one out: sessionStorage is
   * per tab, which is the point */
  route();
}

init();
