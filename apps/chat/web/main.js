// The demo page: pick a transport, press a scenario, watch the state, the errors and the retries.
// Plain DOM. Every transport module exports `{ id, label, connect(hooks) }` and `connect` returns
// `{ request(event, data), close() }`; see web/transports/.
import { transports } from 'virtual:transports';

/**
 * @typedef {object} SessionHooks
 * @property {(ctx: { refresh: boolean }) => Promise<string>} token token provider
 * @property {{ success(e: { location: string, durationMs?: number }): void, error(e: { location: string, error: any }): void }} observer
 * @property {(change: { previous: string, current: string, reason?: any, nextRetryInMs?: number, attempt: number, at: number }) => void} onState
 * @property {(message: { id: number, room: string, user: string, text: string, at: number }) => void} onMessage
 * @property {(event: string, error: any) => void} onAuthFailure a stateless transport was refused with UNAUTHORIZED
 */

const $ = (id) => document.getElementById(id);
const ROOM = 'lobby';
const SHORT_TOKEN_MS = 2000;

let session;
let activeTransport;
let joined;
let userClosing = false;
let shortTokenNext = false;
let refreshes = 0;
let lastEntryAt;
/** HTTP retries announced and not settled yet, per `METHOD /path`: when each was announced. */
const pendingRetries = new Map();

// ---------------------------------------------------------------- rendering

const clock = (t) => new Date(t).toISOString().slice(11, 23);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, String(v));
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

function setState(state, detail = '') {
  const out = $('state');
  out.dataset.state = state;
  out.textContent = detail ? `${state} (${detail})` : state;
}

/** One row per error, with its classification: what the client is told to do. */
function showError(where, error) {
  const retry = error.retryAfterMs ?? error.retry_after_ms;
  const details = error.details === undefined ? '' : JSON.stringify(error.details);
  const row = el(
    'tr',
    {
      class: 'error',
      'data-where': where,
      'data-code': error.code,
      'data-name': error.name,
      'data-category': error.category,
      'data-recoverable': error.recoverable,
      'data-recovery': error.recovery,
      'data-retry-after-ms': retry ?? '',
    },
    el('td', {}, clock(Date.now())),
    el('td', {}, where),
    el('td', { class: 'code' }, String(error.code)),
    el('td', { class: 'name' }, el('strong', {}, String(error.name))),
    el('td', { class: 'message' }, String(error.message)),
    el('td', { class: 'category' }, String(error.category)),
    el('td', { class: 'recoverable' }, String(error.recoverable)),
    el('td', { class: 'recovery' }, String(error.recovery)),
    el('td', { class: 'retry-after' }, retry === undefined ? '-' : String(retry)),
    el('td', { class: 'details' }, el('code', {}, details)),
  );
  $('errors').tBodies[0].prepend(row);
}

/** One line of the retry timeline, with the time since the line before. */
function timeline(kind, text, data = {}) {
  const now = Date.now();
  const delta = lastEntryAt === undefined ? '' : `+${now - lastEntryAt} ms`;
  lastEntryAt = now;
  const attrs = { class: `entry ${kind}`, 'data-kind': kind };
  for (const [k, v] of Object.entries(data)) attrs[`data-${k}`] = v;
  $('timeline').append(
    el('li', attrs, el('time', {}, clock(now)), el('span', { class: 'delta' }, delta), el('span', {}, text)),
  );
  $('timeline').lastElementChild.scrollIntoView({ block: 'nearest' });
}

function say(text, kind = 'system') {
  $('messages').append(el('li', { class: kind }, text));
  $('messages').lastElementChild.scrollIntoView({ block: 'nearest' });
}

// ---------------------------------------------------------------- the session

async function fetchToken({ refresh }) {
  const ttl = shortTokenNext && !refresh ? SHORT_TOKEN_MS : undefined;
  shortTokenNext = false;
  const res = await fetch('/api/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ttl === undefined ? {} : { ttl_ms: ttl }),
  });
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  const t = await res.json();
  $('user').textContent = t.user;
  $('token').textContent = `expires ${clock(t.expires_at)} (in ${Math.round((t.expires_at - Date.now()) / 1000)} s)`;
  if (refresh) {
    refreshes++;
    $('token-refreshes').textContent = String(refreshes);
    timeline('auth', 'token refreshed', { event: 'refresh' });
  }
  return t.token;
}

/** The oldest unsettled retry of `what` (`METHOD /path`), removed; undefined when none. */
function settleRetry(what) {
  const times = pendingRetries.get(what);
  const at = times?.shift();
  if (times?.length === 0) pendingRetries.delete(what);
  return at;
}

const observer = {
  success({ location }) {
    if (location === 'Reconnect#Attempt') timeline('attempt', 'reconnect attempt', { event: 'attempt' });
    // The HTTP client reports the final outcome at `Request#METHOD /path`: close a retry's story.
    if (!location.startsWith('Request#')) return;
    const what = location.slice(8);
    const at = settleRetry(what);
    if (at === undefined) return;
    const waited = Date.now() - at;
    timeline('retried', `${what} succeeded on retry, ${waited} ms after the retry was scheduled`, {
      state: 'retried',
      'waited-ms': waited,
    });
  },
  error({ location, error }) {
    if (location.startsWith('Request#')) {
      const what = location.slice(8);
      if (settleRetry(what) !== undefined) {
        timeline('retried', `${what} failed on retry: ${error.name} (${error.code}), given up`, {
          state: 'failed',
          reason: error.name,
        });
      }
      return;
    }
    // The HTTP client reports each retry it is about to make at `Retry#METHOD /path`.
    if (!location.startsWith('Retry#')) return;
    const what = location.slice(6);
    pendingRetries.set(what, [...(pendingRetries.get(what) ?? []), Date.now()]);
    showError(location, error);
    const pace = error.retryAfterMs === undefined ? '' : ` (server asked for ${error.retryAfterMs} ms)`;
    timeline('retry', `retrying ${location.slice(6)} because ${error.name}${pace}`, {
      state: 'retrying',
      reason: error.name,
      'retry-after-ms': error.retryAfterMs ?? '',
    });
  },
};

function onState(change) {
  const reason = change.reason;
  const why = reason ? ` because ${reason.name} (${reason.code})` : '';
  if (change.current === 'reconnecting' && change.nextRetryInMs !== undefined) {
    setState('reconnecting', `attempt ${change.attempt} in ${change.nextRetryInMs} ms`);
    timeline('state', `reconnecting: attempt ${change.attempt} in ${change.nextRetryInMs} ms${why}`, {
      state: 'reconnecting',
      attempt: change.attempt,
      'delay-ms': change.nextRetryInMs,
      'retry-after-ms': reason?.retryAfterMs ?? '',
      reason: reason?.name ?? '',
    });
  } else {
    setState(change.current, change.detail === 'stateless' ? 'stateless HTTP' : '');
    timeline('state', `${change.previous} → ${change.current}${why}`, {
      state: change.current,
      reason: reason?.name ?? '',
    });
  }
  if (reason && (change.current === 'reconnecting' || change.current === 'closed') && !userClosing) {
    showError('connection', reason);
  }
  if (change.current === 'open' && joined) {
    // A new connection has no rooms: join again, as a real app would.
    join(joined, 'rejoined');
  }
}

function connect() {
  disconnect();
  activeTransport = transports.find((t) => t.id === $('transport').value) ?? transports[0];
  userClosing = false;
  timeline('info', `connecting over ${activeTransport.label}`, { event: 'connect', transport: activeTransport.id });
  session = activeTransport.connect({
    token: fetchToken,
    observer,
    onState,
    onMessage: (m) => say(`${m.user}: ${m.text}`, 'message'),
    onAuthFailure: (event, error) => {
      showError(`Request#${event}`, error);
      timeline('info', `${event} refused: ${error.name} (${error.code}), refreshing the token once`, {
        reason: error.name,
      });
    },
  });
}

function disconnect() {
  if (!session) return;
  userClosing = true;
  session.close();
  session = undefined;
  joined = undefined;
  $('room').textContent = '-';
}

/** Runs one request; a failure lands in the error table and is returned, never thrown. */
async function request(event, data) {
  if (!session) connect();
  try {
    return { ok: true, value: await session.request(event, data) };
  } catch (error) {
    showError(`Request#${event}`, error);
    return { ok: false, error };
  }
}

async function join(room, verb = 'joined') {
  const r = await request('join', { room });
  if (!r.ok) return;
  joined = room;
  $('room').textContent = `#${room}`;
  say(`${verb} #${room} (${r.value.members ?? '?'} connected)`);
}

// ---------------------------------------------------------------- scenarios

const scenarios = {
  join: () => join(ROOM),
  'missing-room': () => request('join', { room: 'no-such-room' }),
  async 'rate-limit'() {
    const retriesBefore = document.querySelectorAll('#timeline li[data-kind="retry"]').length;
    const sends = Array.from({ length: 15 }, (_, i) => request('send', { room: ROOM, text: `flood ${i + 1}/15` }));
    const results = await Promise.all(sends);
    const refused = results.filter((r) => !r.ok).length;
    const retried = document.querySelectorAll('#timeline li[data-kind="retry"]').length - retriesBefore;
    say(`flood: ${results.length - refused} sent, ${refused} refused${retried ? `, ${retried} retries` : ''}`);
  },
  async 'expired-token'() {
    shortTokenNext = true;
    connect();
    if (!activeTransport.stateless) {
      timeline('info', `token lives ${SHORT_TOKEN_MS} ms: the server closes at expiry`, { event: 'short-token' });
      return;
    }
    // Over HTTP nothing is open to close: the next request after expiry is refused.
    timeline('info', `token lives ${SHORT_TOKEN_MS} ms: asking who I am after it expired`, { event: 'short-token' });
    await new Promise((r) => setTimeout(r, SHORT_TOKEN_MS + 300));
    const r = await request('whoami');
    if (r.ok) say(`still ${r.value.user}, with a fresh token`);
  },
  forbidden: () => request('deleteRoom', { room: ROOM }),
  async restart() {
    timeline('info', 'server restart requested', { event: 'restart' });
    const res = await fetch('/api/admin/restart', { method: 'POST' });
    if (!res.ok) showError('POST /api/admin/restart', (await res.json()).data);
    // Over HTTP the restart shows on the next request: 503 SHUTTING_DOWN, retried after Retry-After.
    else if (activeTransport.stateless) await join(joined ?? ROOM, 'joined again');
  },
  crash: () => request('crash', { room: ROOM }),
};

// ---------------------------------------------------------------- wiring

function init() {
  const select = $('transport');
  for (const t of transports) select.append(el('option', { value: t.id }, t.label));
  const wanted = new URLSearchParams(location.search).get('transport');
  if (wanted && transports.some((t) => t.id === wanted)) select.value = wanted;

  select.addEventListener('change', connect);
  $('connect').addEventListener('click', connect);
  $('disconnect').addEventListener('click', () => {
    disconnect();
    setState('closed', 'by you');
  });
  $('clear').addEventListener('click', () => {
    $('errors').tBodies[0].replaceChildren();
    $('timeline').replaceChildren();
    lastEntryAt = undefined;
    pendingRetries.clear();
  });
  for (const button of document.querySelectorAll('[data-scenario]')) {
    button.addEventListener('click', () => scenarios[button.dataset.scenario]());
  }
  $('send-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('message').value.trim();
    if (!text) return;
    const r = await request('send', { room: joined ?? ROOM, text });
    if (r.ok) $('message').value = '';
  });
  document.body.dataset.ready = 'true';
  connect();
}

init();
