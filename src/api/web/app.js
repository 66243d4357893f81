// mailtest web inbox: lists captured mail live over the sink's event stream and shows each
// message. Uses only the sink's public HTTP API. Everything from a message is untrusted: it
// reaches the page as text nodes only, and its HTML only inside a sandboxed iframe.
'use strict';

const PAGE = 50;
const TABS = ['html', 'text', 'headers', 'envelope', 'raw', 'attachments', 'links', 'lints', 'support', 'spam'];

const state = {
  token: sessionStorage.getItem('mailtest-token') || '',
  q: '',
  mailbox: '',
  rows: [],        // the page shown, newest first
  total: 0,
  more: false,     // older messages exist below this page
  pages: [],       // `before` cursors of the newer pages, for going back
  before: null,    // this page's cursor: null is the newest page
  selected: 0,
  checked: new Set(),
  open: null,      // the message shown: {summary, message, bcc}
  tab: 'html',
  mobile: false,
  images: new Set(), // messages whose remote images the user allowed
  reload: null,
};

const $ = (id) => document.getElementById(id);

// An element with attributes and children; strings become text nodes, never markup.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== false && value != null) node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ''));
  }
  return node;
}

function withToken(url) {
  if (!state.token) return url;
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(state.token);
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = state.token ? { Authorization: 'Bearer ' + state.token } : {};
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    askToken(Boolean(state.token));
    throw new Unauthorized('token needed');
  }
  if (!response.ok && response.status !== 404) {
    let message = response.status + ' ' + response.statusText;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function showError(error) {
  if (error instanceof Unauthorized) return;
  $('error').textContent = error ? String(error.message || error) : '';
  $('error').hidden = !error;
}

function askToken(refused) {
  $('token-error').hidden = !refused;
  if (!$('token-dialog').open) $('token-dialog').showModal();
}

// ---- the list ----

function filterParams() {
  const params = new URLSearchParams();
  if (state.q) params.set('q', state.q);
  if (state.mailbox) params.set('mailbox', state.mailbox);
  return params;
}

async function loadList() {
  const params = filterParams();
  params.set('limit', PAGE);
  if (state.before != null) params.set('before', state.before);
  try {
    const body = await (await api('api/v1/messages?' + params)).json();
    state.rows = body.messages.reverse();
    state.total = body.total;
    state.more = body.more;
    state.selected = Math.min(state.selected, Math.max(state.rows.length - 1, 0));
    showError(null);
  } catch (error) {
    showError(error);
  }
  renderList();
  loadMailboxes();
}

function scheduleReload() {
  clearTimeout(state.reload);
  state.reload = setTimeout(loadList, 150);
}

async function loadMailboxes() {
  try {
    const body = await (await api('api/v1/mailboxes')).json();
    const select = $('mailbox');
    const names = body.mailboxes.map((m) => m.mailbox);
    if (state.mailbox && !names.includes(state.mailbox)) names.push(state.mailbox);
    const options = [el('option', { value: '' }, 'All mailboxes')].concat(
      names.map((name) => el('option', { value: name }, name)));
    select.replaceChildren(...options);
    select.value = state.mailbox;
  } catch (error) {
    showError(error);
  }
}

function formatSize(bytes) {
  if (bytes < 1024) return bytes + ' B';
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + ' KB';
  return (bytes / 1024 / 1024).toFixed(1) + ' MB';
}

function formatTime(iso) {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

function row(summary, index) {
  const checked = state.checked.has(summary.id);
  const classes = ['row', index === state.selected ? 'selected' : '', checked ? 'checked' : ''];
  return el('tr', {
    class: classes.join(' ').trim(), 'data-id': summary.id,
    onclick: (event) => {
      if (event.target.type === 'checkbox') return;
      location.hash = '#/messages/' + summary.id;
    },
  },
  el('td', { class: 'c-check' }, el('input', {
    type: 'checkbox', checked, 'aria-label': 'Select message ' + summary.id,
    onchange: () => toggleChecked(summary.id),
  })),
  el('td', { class: 'c-time', title: summary.received_at }, formatTime(summary.received_at)),
  el('td', {}, summary.from || summary.envelope.mail_from || '<>'),
  el('td', {}, summary.to || summary.envelope.rcpt_to.join(', ')),
  el('td', { class: 'subject' }, summary.subject || '(no subject)'),
  el('td', { class: 'c-size' }, formatSize(summary.size)),
  el('td', { class: 'c-att' }, summary.attachments ? String(summary.attachments) : ''),
  el('td', {}, summary.mailbox || ''));
}

function renderList() {
  $('rows').replaceChildren(...state.rows.map(row));
  $('empty').hidden = state.rows.length > 0;
  const first = state.pages.length * PAGE;
  $('count').textContent = state.rows.length
    ? `${first + 1}–${first + state.rows.length} of ${state.total}`
    : `0 of ${state.total}`;
  $('older').disabled = !state.more;
  $('newer').disabled = state.before == null;
  $('delete-selected').disabled = state.checked.size === 0;
  $('clear').textContent = state.q || state.mailbox ? 'Delete all found' : 'Delete all';
  $('check-all').checked = state.rows.length > 0 && state.rows.every((s) => state.checked.has(s.id));
  document.body.dataset.listed = String(state.rows.length);
  if (!document.body.dataset.firstPaint) {
    document.body.dataset.firstPaint = String(Math.round(performance.now()));
  }
}

function toggleChecked(id) {
  if (state.checked.has(id)) state.checked.delete(id); else state.checked.add(id);
  renderList();
}

function moveSelection(step) {
  if (!state.rows.length) return;
  state.selected = Math.max(0, Math.min(state.rows.length - 1, state.selected + step));
  renderList();
  const selected = document.querySelector('#rows tr.selected');
  if (selected) selected.scrollIntoView({ block: 'nearest' });
}

async function deleteIds(ids) {
  if (!ids.length) return;
  try {
    await Promise.all(ids.map((id) => api('api/v1/messages/' + id, { method: 'DELETE' })));
    ids.forEach((id) => state.checked.delete(id));
    showError(null);
  } catch (error) {
    showError(error);
  }
  await loadList();
}

async function clearAll() {
  const what = state.q || state.mailbox ? 'every message this search finds' : 'every message';
  if (!confirm(`Delete ${what}?`)) return;
  try {
    await api('api/v1/messages?' + filterParams(), { method: 'DELETE' });
    state.checked.clear();
  } catch (error) {
    showError(error);
  }
  state.before = null;
  state.pages = [];
  await loadList();
}

function page(older) {
  if (older) {
    if (!state.more || !state.rows.length) return;
    state.pages.push(state.before);
    state.before = state.rows[state.rows.length - 1].id;
  } else {
    if (!state.pages.length) return;
    state.before = state.pages.pop();
  }
  state.selected = 0;
  loadList();
}

// ---- live updates ----

function connect() {
  const source = new EventSource(withToken('api/v1/events'));
  source.addEventListener('open', () => { $('live').textContent = 'live'; $('live').className = 'live on'; });
  source.addEventListener('error', () => { $('live').textContent = 'reconnecting'; $('live').className = 'live'; });
  source.addEventListener('message', (event) => arrived(JSON.parse(event.data)));
  source.addEventListener('deleted', (event) => removed(JSON.parse(event.data).ids));
  source.addEventListener('resync', scheduleReload);
  return source;
}

function arrived(summary) {
  // Only the newest page of an unfiltered list can take the message as it is; a filter
  // (text search included) is the server's to apply.
  if (state.before != null || state.q || state.mailbox) {
    scheduleReload();
    return;
  }
  if (state.rows.some((s) => s.id === summary.id)) return;
  state.rows.unshift(summary);
  state.total += 1;
  if (state.rows.length > PAGE) { state.rows.pop(); state.more = true; }
  if (state.selected > 0) state.selected += 1;
  renderList();
}

function removed(ids) {
  if (state.open && ids.includes(state.open.summary.id)) location.hash = '#/';
  scheduleReload();
}
