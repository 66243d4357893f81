// mailtest web inbox: one message (HTML in a sandboxed iframe, text, headers, envelope with
// BCC and SMTP transcript, raw source, attachments, links and their check, lints, client
// support of the HTML, spam score), routing and keys.
'use strict';

async function openMessage(id) {
  $('inbox-view').hidden = true;
  $('message-view').hidden = false;
  try {
    const response = await api('api/v1/messages/' + id);
    if (response.status === 404) {
      showError(new Error(`Message ${id} is not in the store (deleted?)`));
      location.hash = '#/';
      return;
    }
    state.open = await response.json();
    showError(null);
  } catch (error) {
    showError(error);
    return;
  }
  const at = state.rows.findIndex((s) => s.id === id);
  if (at >= 0) state.selected = at;
  renderMessage();
}

function renderMessage() {
  const { summary, message, bcc } = state.open;
  document.title = (summary.subject || '(no subject)') + ' · mailtest inbox';
  $('m-subject').textContent = summary.subject || '(no subject)';
  const fields = [
    ['From', summary.from || summary.envelope.mail_from],
    ['To', summary.to || ''],
    ['BCC', bcc.join(', ')],
    ['Received', new Date(summary.received_at).toLocaleString()],
    ['Size', formatSize(summary.size)],
    ['Mailbox', summary.mailbox || ''],
  ].filter(([, value]) => value);
  $('m-fields').replaceChildren(...fields.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]));
  $('download-raw').href = withToken(`api/v1/messages/${summary.id}/raw`);
  if (!message.html && state.tab === 'html') state.tab = 'text';
  renderTabs();
  document.body.dataset.shown = String(summary.id);
}

function tabLabel(tab) {
  const { message } = state.open;
  // The list counts files only; images shown inside the message are named apart.
  const inline = message.attachments.filter((a) => a.inline).length;
  const files = `${message.attachments.length - inline}${inline ? ` + ${inline} inline` : ''}`;
  const counts = { attachments: files, links: message.links.length, lints: message.lints.length };
  const names = { html: 'HTML', support: 'Client support', spam: 'Spam' };
  const name = names[tab] || tab[0].toUpperCase() + tab.slice(1);
  return tab in counts ? `${name} (${counts[tab]})` : name;
}

function renderTabs() {
  $('tabs').replaceChildren(...TABS.map((tab) => el('button', {
    type: 'button', role: 'tab', 'aria-selected': String(tab === state.tab), 'data-tab': tab,
    class: tab === state.tab ? 'tab active' : 'tab',
    onclick: () => { state.tab = tab; renderTabs(); },
  }, tabLabel(tab))));
  $('panel').replaceChildren(...panel(state.tab));
}

function panel(tab) {
  const { summary, message } = state.open;
  switch (tab) {
    case 'html': return htmlPanel(summary, message);
    case 'text': return [message.text == null ? el('p', { class: 'empty' }, 'No text part.') : el('pre', { class: 'body' }, message.text)];
    case 'headers': return [table(['Header', 'Value'], message.headers)];
    case 'envelope': return envelopePanel(summary);
    case 'raw': return [fetched(`api/v1/messages/${summary.id}/raw`, (text) => el('pre', { class: 'raw', id: 'raw-source' }, text))];
    case 'attachments': return attachmentsPanel(summary, message);
    case 'links': return linksPanel(summary, message);
    case 'support': return supportPanel(summary, message);
    case 'spam': return spamPanel(summary);
    default: return lintsPanel(message);
  }
}

function htmlPanel(summary, message) {
  if (!message.html) return [el('p', { class: 'empty' }, 'No HTML part.')];
  const allowed = state.images.has(summary.id);
  const src = withToken(`api/v1/messages/${summary.id}/html${allowed ? '?images=1' : ''}`);
  const widths = el('span', { class: 'segmented' },
    el('button', { type: 'button', class: state.mobile ? '' : 'active', onclick: () => { state.mobile = false; renderTabs(); } }, 'Desktop'),
    el('button', { type: 'button', class: state.mobile ? 'active' : '', onclick: () => { state.mobile = true; renderTabs(); } }, 'Mobile'));
  const images = allowed
    ? el('span', { class: 'note' }, 'Remote images allowed for this message.')
    : el('button', { type: 'button', id: 'allow-images', onclick: () => { state.images.add(summary.id); renderTabs(); } }, 'Load remote images');
  // No sandbox flags at all: no scripts, no same-origin, no forms, no popups, no navigation
  // of the inbox. The server's Content-Security-Policy for this URL says the same again.
  const frame = el('iframe', {
    id: 'html-frame', class: state.mobile ? 'mobile' : 'desktop', sandbox: '',
    referrerpolicy: 'no-referrer', title: 'HTML part', src,
  });
  return [el('div', { class: 'panel-bar' }, widths, images), el('div', { class: 'frame-box' }, frame)];
}

function envelopePanel(summary) {
  const e = summary.envelope;
  const bcc = new Set(state.open.bcc);
  const rows = [
    ['MAIL FROM', e.mail_from || '<>'],
    ...e.rcpt_to.map((r) => ['RCPT TO', bcc.has(r) ? r + '  (BCC: in no To or Cc header)' : r]),
    ['HELO/EHLO', e.helo + (e.esmtp ? ' (ESMTP)' : '')],
    ['Client', e.client],
    ['TLS', e.tls ? 'yes' : 'no'],
    ['AUTH', e.auth || 'no'],
    ['8BITMIME / SMTPUTF8', `${e.body_8bit ? 'yes' : 'no'} / ${e.smtputf8 ? 'yes' : 'no'}`],
  ];
  // A send through a provider's HTTP API: which, and what its request carried.
  if (e.api) {
    rows.splice(0, 0, ['Sent through', `${e.api.provider} (${e.api.endpoint})`]);
    rows.push(['API key', e.api.key || '']);
    for (const [name, value] of Object.entries(e.api.metadata || {})) {
      rows.push([name, typeof value === 'string' ? value : JSON.stringify(value)]);
    }
  }
  const transcript = fetched(`api/v1/messages/${summary.id}/transcript`,
    (text) => el('pre', { class: 'raw' }, JSON.parse(text).join('\n')));
  return [table(['Envelope', ''], rows), el('h2', {}, 'SMTP transcript'), transcript];
}

function attachmentsPanel(summary, message) {
  if (!message.attachments.length) return [el('p', { class: 'empty' }, 'No attachments.')];
  const rows = message.attachments.map((a, n) => [
    el('a', { href: withToken(`api/v1/messages/${summary.id}/attachments/${n}`), download: a.filename || `attachment-${n}` }, a.filename || `attachment-${n}`),
    a.content_type, formatSize(a.size), a.inline ? 'inline' : 'attachment', a.content_id || '',
  ]);
  return [table(['File', 'Type', 'Size', 'Disposition', 'Content-ID'], rows)];
}

function linksPanel(summary, message) {
  if (!message.links.length) return [el('p', { class: 'empty' }, 'No links.')];
  // Only web and mail links become clickable; anything else (javascript:, data:) stays text.
  const rows = message.links.map((link) => [
    /^(https?:|mailto:)/i.test(link.href)
      ? el('a', { href: link.href, target: '_blank', rel: 'noopener noreferrer' }, link.href)
      : el('code', {}, link.href),
    link.part,
  ]);
  const results = el('div', { id: 'link-check' });
  const check = el('button', {
    type: 'button', id: 'check-links',
    onclick: () => results.replaceChildren(fetched(`api/v1/messages/${summary.id}/checks/links?follow=true`, linkCheck)),
  }, 'Check links');
  return [table(['Link', 'Part'], rows), el('div', { class: 'panel-bar' }, check), results];
}

// The link check's answer: each web link's status (redirects followed), broken ones marked.
function linkCheck(text) {
  const report = JSON.parse(text);
  if (report.error) return el('p', { class: 'empty' }, report.error);
  const rows = report.Links.map((l) => [l.URL, String(l.StatusCode || '—'),
    el('span', { class: l.StatusCode === 0 || l.StatusCode >= 400 ? 'sev error' : 'sev' }, l.Status)]);
  return el('div', {}, el('p', { id: 'link-errors' }, `${report.Errors} of ${report.Links.length} links broken`),
    table(['URL', 'Code', 'Status'], rows));
}

// How well email clients support the features the HTML uses (caniemail.com's data).
function supportPanel(summary, message) {
  if (!message.html) return [el('p', { class: 'empty' }, 'No HTML part.')];
  return [fetched(`api/v1/messages/${summary.id}/checks/html`, (text) => {
    const report = JSON.parse(text);
    if (report.error) return el('p', { class: 'empty' }, report.error);
    const t = report.Total;
    const pct = (n) => `${n.toFixed(1)}%`;
    const rows = report.Warnings.map((w) => [
      w.URL ? el('a', { href: w.URL, target: '_blank', rel: 'noopener noreferrer' }, w.Title) : w.Title,
      w.Category, String(w.Score.Found), pct(w.Score.Supported), pct(w.Score.Partial), pct(w.Score.Unsupported),
    ]);
    return el('div', {},
      el('p', { id: 'support-total' }, `Supported ${pct(t.Supported)} · partial ${pct(t.Partial)} · unsupported ${pct(t.Unsupported)} (${t.Nodes} elements, ${t.Tests} tests)`),
      rows.length ? table(['Feature', 'Kind', 'Uses', 'Supported', 'Partial', 'Unsupported'], rows)
        : el('p', { class: 'empty' }, 'Every feature used is supported everywhere.'));
  })];
}

// The spam score from the sink's SpamAssassin daemon, when it has one.
function spamPanel(summary) {
  return [fetched(`api/v1/messages/${summary.id}/checks/spam`, (text) => {
    const report = JSON.parse(text);
    if (report.error) return el('p', { class: 'empty' }, report.error);
    if (report.Error) return el('p', { class: 'sev error' }, report.Error);
    const rows = (report.Rules || []).map((r) => [r.Score.toFixed(1), r.Name, r.Description]);
    return el('div', {},
      el('p', { id: 'spam-score' }, `Score ${report.Score.toFixed(1)}: ${report.IsSpam ? 'spam' : 'not spam'} (5.0 or more is spam)`),
      table(['Points', 'Rule', 'Description'], rows));
  })];
}

function lintsPanel(message) {
  if (!message.lints.length) return [el('p', { class: 'empty' }, 'No findings: this message passes the render lints.')];
  const rows = message.lints.map((l) => [
    el('span', { class: 'sev ' + l.severity }, l.severity), l.rule, l.line ? String(l.line) : '', l.message,
  ]);
  return [table(['Severity', 'Rule', 'HTML line', 'Finding'], rows)];
}

function table(head, rows) {
  return el('table', { class: 'grid' },
    el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c))))));
}

// A placeholder filled with `render(text)` once `path` is read.
function fetched(path, render) {
  const box = el('div', {}, el('p', { class: 'empty' }, 'Loading…'));
  api(path).then((r) => r.text()).then((text) => box.replaceChildren(render(text))).catch(showError);
  return box;
}

function step(offset) {
  const at = state.rows.findIndex((s) => s.id === state.open.summary.id);
  const next = state.rows[at + offset];
  if (next) location.hash = '#/messages/' + next.id;
}

// ---- routing, keys, start ----

function route() {
  const match = location.hash.match(/^#\/messages\/(\d+)$/);
  if (match) {
    openMessage(Number(match[1]));
    return;
  }
  state.open = null;
  document.title = 'mailtest inbox';
  $('message-view').hidden = true;
  $('inbox-view').hidden = false;
  loadList();
}

function typing(event) {
  return ['INPUT', 'SELECT', 'TEXTAREA'].includes(event.target.tagName) && event.target.type !== 'checkbox';
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event) || $('token-dialog').open) return;
  const inList = !$('inbox-view').hidden;
  const actions = inList ? {
    j: () => moveSelection(1), ArrowDown: () => moveSelection(1),
    k: () => moveSelection(-1), ArrowUp: () => moveSelection(-1),
    Enter: () => { const s = state.rows[state.selected]; if (s) location.hash = '#/messages/' + s.id; },
    o: () => actions.Enter(),
    x: () => { const s = state.rows[state.selected]; if (s) toggleChecked(s.id); },
    Delete: () => deleteIds(state.checked.size ? [...state.checked] : state.rows[state.selected] ? [state.rows[state.selected].id] : []),
    '#': () => actions.Delete(),
    '/': () => $('search').focus(),
    n: () => page(true), p: () => page(false),
  } : {
    Escape: () => { location.hash = '#/'; }, u: () => { location.hash = '#/'; },
    j: () => step(1), k: () => step(-1),
    Delete: () => deleteOpen(), '#': () => deleteOpen(),
  };
  const action = actions[event.key];
  if (action) { event.preventDefault(); action(); }
}

async function deleteOpen() {
  const id = state.open.summary.id;
  location.hash = '#/';
  await deleteIds([id]);
}

function start() {
  $('search-form').addEventListener('submit', (event) => { event.preventDefault(); search(); });
  let typingTimer = null;
  $('search').addEventListener('input', () => { clearTimeout(typingTimer); typingTimer = setTimeout(search, 300); });
  $('search').addEventListener('keydown', (event) => { if (event.key === 'Escape') $('search').blur(); });
  $('mailbox').addEventListener('change', () => { state.mailbox = $('mailbox').value; resetPaging(); loadList(); });
  $('older').addEventListener('click', () => page(true));
  $('newer').addEventListener('click', () => page(false));
  $('delete-selected').addEventListener('click', () => deleteIds([...state.checked]));
  $('clear').addEventListener('click', clearAll);
  $('check-all').addEventListener('change', () => {
    const all = $('check-all').checked;
    state.rows.forEach((s) => (all ? state.checked.add(s.id) : state.checked.delete(s.id)));
    renderList();
  });
  $('back').addEventListener('click', () => { location.hash = '#/'; });
  $('delete-message').addEventListener('click', deleteOpen);
  $('prev-message').addEventListener('click', () => step(-1));
  $('next-message').addEventListener('click', () => step(1));
  $('token-form').addEventListener('submit', () => {
    state.token = $('token').value;
    sessionStorage.setItem('mailtest-token', state.token);
    restart();
  });
  document.addEventListener('keydown', onKey);
  window.addEventListener('hashchange', route);
  restart();
}

let source = null;

function restart() {
  if (source) source.close();
  // The stream opens before the list is read, so nothing that arrives between is missed.
  source = connect();
  route();
}

function resetPaging() {
  state.before = null;
  state.pages = [];
  state.selected = 0;
}

function search() {
  const q = $('search').value.trim();
  if (q === state.q) return;
  state.q = q;
  resetPaging();
  if (!$('inbox-view').hidden) loadList(); else location.hash = '#/';
}

start();
