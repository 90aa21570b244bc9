// The logbus dashboard: polls /stats (throughput from successive samples), /dashboard/overview
// (per-topic counts, lag, inbox health) and tails one topic through /subscribe (SSE) or, when the
// aggregator has no /subscribe, by polling /events. With auth on, a token with the `read` scope is
// asked for once and kept in sessionStorage (this tab only); every call, the event stream
// included, sends it as a bearer header, never in a URL (URLs end up in proxy logs and history).
import { TimeChart, compact } from './chart.js';

const TOKEN_KEY = 'logbus.token';
const STATS_EVERY_MS = 1000;
const OVERVIEW_EVERY_MS = 2000;
const TAIL_POLL_MS = 1000;
const TAIL_ROWS = 200;
const TOPIC_ROWS = 12;

const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat('en-US');
let token = sessionStorage.getItem(TOKEN_KEY);

/** 401 or 403, with what the server said (403: a valid token without the read scope). */
class AuthRequired extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

/** The `error` of a contract error body, or '' when the body is not one. */
async function errorOf(response) {
  try {
    const body = await response.json();
    return typeof body?.error === 'string' ? body.error : '';
  } catch {
    return '';
  }
}

async function api(path) {
  const response = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
  if (response.status === 401 || response.status === 403) throw new AuthRequired(response.status, await errorOf(response));
  if (!response.ok) {
    const reason = await errorOf(response);
    throw new Error(`${path.split('?')[0]}: HTTP ${response.status}${reason ? ` ${reason}` : ''}`);
  }
  return response.json();
}

/**
 * GET /subscribe read with fetch, so the token travels in the Authorization header (EventSource
 * can only put it in the URL). Parses the SSE stream (LF-separated, as the aggregator sends it),
 * hands each event to `onEvent`, and reconnects with Last-Event-ID after the stream ends
 * (overflow, shutdown, network) like EventSource would. Resolves when `signal` aborts; rejects
 * with AuthRequired on 401/403 and with NoSubscribe when the aggregator has no /subscribe.
 */
class NoSubscribe extends Error {}

async function subscribe(topic, { signal, onOpen, onEvent }) {
  let lastId = null;
  let retryMs = 1000;
  while (!signal.aborted) {
    const headers = { accept: 'text/event-stream' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (lastId !== null) headers['last-event-id'] = lastId;
    let response;
    try {
      response = await fetch(`/subscribe?${new URLSearchParams({ topic })}`, { headers, signal, cache: 'no-store' });
    } catch {
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      continue;
    }
    if (response.status === 401 || response.status === 403) throw new AuthRequired(response.status, await errorOf(response));
    if (response.status === 404) throw new NoSubscribe();
    if (!response.ok || !response.body) {
      // 429 (subscriber cap) or 503 (draining): come back when told to.
      const after = Number(response.headers.get('retry-after'));
      await new Promise((resolve) => setTimeout(resolve, Number.isFinite(after) && after > 0 ? after * 1000 : retryMs));
      continue;
    }
    onOpen();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = [];
          let kind = 'message';
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') data.push(text);
            else if (field === 'id') lastId = text;
            else if (field === 'event') kind = text;
            else if (field === 'retry' && /^\d+$/.test(text)) retryMs = Number(text);
          }
          // overflow / shutdown end the stream; the loop reconnects from lastId.
          if (kind === 'message' && data.length > 0) onEvent(JSON.parse(data.join('\n')));
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.floor(seconds);
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s} s`;
}

function setStatus(state, text) {
  const pill = $('status');
  pill.dataset.state = state;
  pill.textContent = text;
}

// ── charts and totals ────────────────────────────────────────────────────────────────────────
const WINDOW_MS = 5 * 60_000;
const throughput = new TimeChart($('throughput'), {
  windowMs: WINDOW_MS,
  series: [
    { key: 'received', color: '#2563eb', fill: true },
    { key: 'unique', color: '#059669' },
    { key: 'duplicates', color: '#d97706' },
  ],
});
const backlog = new TimeChart($('backlog'), { windowMs: WINDOW_MS, series: [{ key: 'pending', color: '#7c3aed', fill: true }] });
let previous = null;

/** The charts' screen-reader text: what the last sample says, in words. */
function describeCharts(rates, pending) {
  const words = Object.entries(rates).map(([key, value]) => `${key} ${compact(value)}`);
  $('throughput').setAttribute('aria-label', `Throughput, events per second, latest sample: ${words.join(', ')}`);
  $('backlog').setAttribute('aria-label', `Backlog, latest sample: ${number.format(pending)} pending events`);
}

/** A failed poll: the charts show a gap, and the next rate is measured from the next sample. */
function markGap() {
  const now = Date.now();
  throughput.gap(now);
  backlog.gap(now);
  previous = null;
}

function showStats(stats) {
  const now = Date.now();
  $('kpi-received').textContent = number.format(stats.received);
  $('kpi-unique').textContent = number.format(stats.unique_processed);
  $('kpi-duplicates').textContent = number.format(stats.duplicate_dropped);
  $('kpi-pending').textContent = number.format(stats.pending);
  $('kpi-topics').textContent = number.format(stats.topics.length);
  $('uptime').textContent = duration(stats.uptime);
  // Rates from successive samples (none from the first, or the first after a gap: it would
  // average over time not measured); a counter that went down (a fresh database) counts as 0.
  backlog.push(now, { pending: stats.pending });
  if (previous) {
    const rate = (key) => Math.max(0, (stats[key] - previous[key]) / ((now - previous.t) / 1000));
    const rates = { received: rate('received'), unique: rate('unique_processed'), duplicates: rate('duplicate_dropped') };
    for (const [key, value] of Object.entries(rates)) $(`rate-${key}`).textContent = compact(value);
    throughput.push(now, rates);
    describeCharts(rates, stats.pending);
  }
  previous = { ...stats, t: now };
}

function showOverview(overview) {
  $('kpi-lag').textContent = duration(overview.lag_seconds);
  $('health-lag').textContent = duration(overview.lag_seconds);
  $('health-dead').textContent = number.format(overview.inbox_dead_tuples);
  $('health-xact').textContent = overview.oldest_transaction_seconds > 0 ? duration(overview.oldest_transaction_seconds) : 'none';
  lastSeqs = new Map(overview.topics.map((t) => [t.topic, t.last_seq]));
  showTopics(overview.topics);
}

function showTopics(topics) {
  const sorted = [...topics].sort((a, b) => b.events - a.events || a.topic.localeCompare(b.topic));
  const max = sorted[0]?.events || 1;
  const body = $('topics').tBodies[0];
  body.replaceChildren(
    ...sorted.slice(0, TOPIC_ROWS).map((t) => {
      const row = document.createElement('tr');
      const cell = (className, text) => {
        const td = row.insertCell();
        td.className = className;
        if (text !== undefined) td.textContent = text;
        return td;
      };
      cell('name', t.topic).title = t.topic;
      cell('count', number.format(t.events));
      const bar = document.createElement('span');
      bar.style.width = `${Math.max(1, (t.events / max) * 100)}%`;
      cell('bar').append(bar);
      const tailButton = document.createElement('button');
      tailButton.type = 'button';
      tailButton.textContent = 'tail';
      tailButton.setAttribute('aria-label', `Tail ${t.topic}`);
      tailButton.addEventListener('click', () => chooseTopic(t.topic));
      cell('action').append(tailButton);
      return row;
    }),
  );
  const note = $('topics-empty');
  note.textContent = sorted.length === 0 ? 'No events yet.' : `and ${sorted.length - TOPIC_ROWS} more`;
  note.hidden = sorted.length > 0 && sorted.length <= TOPIC_ROWS;

  const select = $('tail-topic');
  const names = topics.map((t) => t.topic).sort();
  const current = [...select.options].slice(1).map((o) => o.value);
  if (names.join('\n') !== current.join('\n')) {
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...names.map((name) => new Option(name, name)));
    select.value = names.includes(chosen) ? chosen : '';
  }
}

// ── live tail ────────────────────────────────────────────────────────────────────────────────
let lastSeqs = new Map();
let stopTail = () => {};
/** How the tail reads now ('live (server-sent events)', 'polling …'); '' when no topic is tailed. */
let tailMode = '';

/** The tail's mode, qualified while the aggregator fails: an open stream is no proof of liveness. */
function showTailMode(mode = tailMode) {
  tailMode = mode;
  $('tail-mode').textContent = tailMode && failures.size > 0 ? `${tailMode}, paused: the aggregator is failing (see above)` : tailMode;
}

function chooseTopic(topic) {
  const select = $('tail-topic');
  if (![...select.options].some((o) => o.value === topic)) select.append(new Option(topic, topic));
  select.value = topic;
  startTail(topic);
}

function addTailEvent(event) {
  const row = document.createElement('li');
  row.className = 'fresh';
  for (const [className, text] of [
    ['seq', `#${event.seq}`],
    ['id', event.event_id],
    ['source', `${event.source} · ${event.timestamp.slice(11, 19)}`],
    ['payload', JSON.stringify(event.payload)],
  ]) {
    const span = document.createElement('span');
    span.className = className;
    span.textContent = text;
    span.title = text;
    row.append(span);
  }
  const list = $('tail');
  list.prepend(row);
  while (list.children.length > TAIL_ROWS) list.lastElementChild.remove();
}

/**
 * Tails `topic` from its current end: SSE when /subscribe answers, else polling /events from the
 * last seq the overview reported.
 */
function startTail(topic) {
  stopTail();
  $('tail').replaceChildren();
  showTailMode('');
  if (!topic) return;
  let after = lastSeqs.get(topic) ?? 0;
  let stopped = false;
  const seen = (event) => {
    if (event.seq <= after) return;
    after = event.seq;
    addTailEvent(event);
  };

  const poll = async () => {
    showTailMode(`polling /events after seq ${after}`);
    while (!stopped) {
      try {
        const page = await api(`/events?topic=${encodeURIComponent(topic)}&after=${after}&limit=1000`);
        if (stopped) return;
        page.events.forEach(seen);
        if (page.events.length === 1000) continue;
      } catch (error) {
        if (error instanceof AuthRequired) return askForToken(error);
      }
      await new Promise((resolve) => setTimeout(resolve, TAIL_POLL_MS));
    }
  };

  // No `after`: /subscribe starts at the topic's end as the server sees it now, which is exact;
  // the overview's last seq may be a poll old.
  const controller = new AbortController();
  subscribe(topic, {
    signal: controller.signal,
    onOpen: () => showTailMode('live (server-sent events)'),
    onEvent: seen,
  }).catch((error) => {
    if (stopped) return;
    if (error instanceof AuthRequired) return askForToken(error);
    // No /subscribe here: poll from where we are.
    void poll();
  });
  stopTail = () => {
    stopped = true;
    controller.abort();
  };
}

// ── polling loop, staleness and token ────────────────────────────────────────────────────────
// Each start() begins a generation; loops of an earlier one (before a token prompt) end.
let generation = 0;
let running = false;
/** When /stats last answered (ms); null: not yet. The page says how old what it shows is. */
let updatedAt = null;
/** The failure of each loop that is failing now, by name: the banner quotes them. */
const failures = new Map();
const STALE_AFTER_MS = 2.5 * STATS_EVERY_MS;

function showFailures() {
  const banner = $('banner');
  banner.textContent = [...failures.values()].join(' · ');
  banner.hidden = failures.size === 0;
}

/** Dims what is shown once it is older than a couple of polls, and says how old. */
function showStaleness() {
  const age = updatedAt === null ? null : Date.now() - updatedAt;
  const stale = failures.size > 0 && (age === null || age > STALE_AFTER_MS);
  document.body.classList.toggle('stale', stale);
  $('staleness').textContent = !stale ? '' : age === null ? 'no data yet' : `last updated ${Math.round(age / 1000)} s ago`;
}
setInterval(showStaleness, 1000);

async function loop(name, every, work, onFailure = () => {}) {
  const mine = generation;
  while (running && mine === generation) {
    try {
      await work();
      failures.delete(name);
      if (failures.size === 0) setStatus('live', 'live');
    } catch (error) {
      if (error instanceof AuthRequired) return askForToken(error);
      const message = error instanceof TypeError ? 'aggregator unreachable' : error.message;
      failures.set(name, message);
      setStatus('error', message);
      onFailure(error);
    }
    showFailures();
    showStaleness();
    showTailMode();
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** Topic counts that could not be read: say so, never "No events yet." (not measured). */
function overviewFailed() {
  if ($('topics').tBodies[0].rows.length > 0) return; // the last counts stay, dimmed
  $('topics-empty').textContent = 'Topic counts unavailable: the aggregator did not answer.';
  $('topics-empty').hidden = false;
}

function start() {
  if (running) return;
  running = true;
  generation++;
  $('forget').hidden = token === null;
  $('signin').hidden = true;
  const stats = async () => {
    showStats(await api('/stats'));
    updatedAt = Date.now();
  };
  void loop('stats', STATS_EVERY_MS, stats, markGap);
  void loop('overview', OVERVIEW_EVERY_MS, async () => showOverview(await api('/dashboard/overview')), overviewFailed);
}

/** Opens the sign-in dialog; `refusal` (an AuthRequired) says why the last token was not enough. */
function askForToken(refusal) {
  running = false;
  stopTail();
  setStatus('error', 'token required');
  const error = $('login-error');
  error.hidden = token === null;
  if (token !== null && refusal) {
    error.textContent =
      refusal.status === 403
        ? `This token lacks the read scope the dashboard needs${refusal.message ? ` (server: ${refusal.message})` : ''}.`
        : `That token was refused${refusal.message ? ` (server: ${refusal.message})` : ''}.`;
  }
  const dialog = $('login');
  if (!dialog.open) dialog.showModal();
  $('token').focus();
}

// Escape (or any close without a token): the page keeps a way back to the dialog.
$('login').addEventListener('close', () => {
  if (!running) $('signin').hidden = false;
});
$('signin').addEventListener('click', () => askForToken(null));

$('login-form').addEventListener('submit', () => {
  token = $('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  start();
  const topic = $('tail-topic').value;
  if (topic) startTail(topic);
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});
$('tail-topic').addEventListener('change', (event) => startTail(event.target.value));

start();
