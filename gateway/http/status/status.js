// The status page: plain ES module, no build step. Reads the gateway's JSON API every two seconds with
// the session cookie; state-changing requests carry the session's CSRF token. Every value is written
// with textContent, never as HTML.
const POLL_MS = 2000;
let csrf = '';
let timer;
const seen = new Map(); // deviceId → last reading time, to announce new readings

const $ = (id) => document.getElementById(id);

class Unauthorized extends Error {}

async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) throw new Unauthorized();
  const text = await res.text();
  const json = text ? JSON.parse(text) : {};
  if (!res.ok) throw new Error(json.detail ?? json.title ?? `HTTP ${res.status}`);
  return json;
}

function ago(iso) {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function duration(seconds) {
  if (seconds === undefined || seconds === null || seconds < 0) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null || text === '' ? '—' : String(text);
  if (className) td.className = className;
  return td;
}

function fill(tableId, rows, columns, empty) {
  const tbody = $(tableId).tBodies[0];
  const out = rows.map((row) => {
    const tr = document.createElement('tr');
    for (const col of columns) {
      const v = col(row);
      tr.append(v instanceof Node ? v : cell(v?.text ?? v, v?.className));
    }
    return tr;
  });
  if (out.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(empty, 'empty');
    td.colSpan = $(tableId).tHead.rows[0].cells.length;
    tr.append(td);
    out.push(tr);
  }
  tbody.replaceChildren(...out);
}

const linkClass = (link) => (link === 'connected' ? 'state-ok' : link === 'connecting' ? 'state-warn' : 'state-bad');
const resultClass = (r) => (r === 'accepted' ? 'state-ok' : r === 'quarantined' ? 'state-warn' : 'state-bad');

function button(label, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await onClick();
      await refresh();
    } catch (err) {
      $('live').textContent = `${label} failed: ${err.message}`;
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function bindForm(deviceId) {
  const form = document.createElement('form');
  const mrn = document.createElement('input');
  mrn.name = 'mrn';
  mrn.required = true;
  mrn.placeholder = 'MRN';
  mrn.setAttribute('aria-label', `MRN for ${deviceId}`);
  const submit = document.createElement('button');
  submit.type = 'submit';
  submit.textContent = 'Bind';
  form.append(mrn, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api(`/v1/bindings/${encodeURIComponent(deviceId)}`, { method: 'PUT', body: { patient: { mrn: mrn.value.trim() } } });
      $('live').textContent = `Bound ${deviceId}: ${r.release?.released ?? 0} reading(s) released`;
      await refresh();
    } catch (err) {
      $('live').textContent = `Bind failed: ${err.message}`;
    }
  });
  const td = document.createElement('td');
  td.append(form);
  return td;
}

async function refresh() {
  const [status, devices, quarantine, audit] = await Promise.all([
    api('/v1/status'),
    api('/v1/devices'),
    api('/v1/quarantine'),
    api('/v1/audit?limit=15'),
  ]);
  $('site').textContent = status.site?.name ?? status.site?.id ?? '';
  const b = status.buffer;
  $('summary').textContent = b
    ? `up ${duration(status.uptimeSeconds)} · ${b.entries} stored · disk ${Math.round((100 * b.diskBytes) / b.quotaBytes)}% of quota${b.intakeRefused ? ' · INTAKE REFUSED (disk full)' : ''}`
    : 'buffer closed';

  for (const d of devices.devices) {
    const before = seen.get(d.deviceId);
    if (before !== undefined && before !== d.lastReadingAt) $('live').textContent = `New reading from ${d.deviceId} (${d.lastResult})`;
    seen.set(d.deviceId, d.lastReadingAt);
  }
  fill('devices', devices.devices, [
    (d) => d.deviceId,
    (d) => d.transport,
    (d) => d.profileId,
    (d) => ({ text: ago(d.lastReadingAt) }),
    (d) => ({ text: d.lastResult, className: resultClass(d.lastResult) }),
    (d) => d.readings,
    (d) => (d.batteryPercent === undefined ? '—' : `${d.batteryPercent}%`),
  ], 'No device has sent a reading since the gateway started.');

  fill('destinations', status.destinations, [
    (d) => `${d.id} (${d.type})`,
    (d) => ({ text: d.link, className: linkClass(d.link) }),
    (d) => d.pending,
    (d) => duration(d.oldestPendingSeconds),
    (d) => (d.lastDeliveryAt ? `${ago(d.lastDeliveryAt)}${d.lastReceipt ? ` (${String(d.lastReceipt).slice(0, 20)})` : ''}` : '—'),
    (d) => ({ text: d.errorsLastMinute ?? 0, className: d.errorsLastMinute > 0 ? 'state-warn' : '' }),
    (d) => duration(d.drainEtaSeconds),
    (d) => ({ text: d.deadLetters, className: d.deadLetters > 0 ? 'state-bad' : '' }),
    (d) => d.lastError?.code ?? d.lastError ?? '',
  ], 'No destination is configured: readings are stored but not forwarded.');

  const dead = $('dead');
  const blocks = [];
  for (const d of status.destinations) {
    if (!d.deadLetters) continue;
    const letters = (await api(`/v1/dead-letters/${encodeURIComponent(d.id)}`)).deadLetters;
    const h = document.createElement('h3');
    h.textContent = `${d.id}: ${letters.length}`;
    const table = document.createElement('table');
    table.className = 'dead';
    table.createTHead().insertRow().append(...['Observation', 'Code', 'Reason', 'When'].map((t) => Object.assign(document.createElement('th'), { scope: 'col', textContent: t })));
    const tbody = table.createTBody();
    for (const l of letters) {
      const tr = tbody.insertRow();
      tr.append(cell(l.observationId.slice(0, 12)), cell(l.code, 'state-bad'), cell(l.reason), cell(ago(l.at)));
    }
    blocks.push(h, table, button(`Replay ${d.id}`, async () => {
      const r = await api(`/v1/dead-letters/${encodeURIComponent(d.id)}/replay`, { method: 'POST', body: {} });
      $('live').textContent = `Replayed ${r.replayed} reading(s) to ${d.id}`;
    }));
  }
  if (blocks.length === 0) blocks.push(Object.assign(document.createElement('p'), { className: 'hint', textContent: 'None.' }));
  dead.replaceChildren(...blocks);

  fill('quarantine', quarantine.quarantine, [
    (q) => q.deviceId,
    (q) => q.reason,
    (q) => ago(q.at),
    (q) => (q.metrics ?? []).join(', '),
    (q) => bindForm(q.deviceId),
  ], 'Nothing in quarantine.');

  fill('audit', audit.events, [
    (e) => e.seq,
    (e) => new Date(e.time).toLocaleTimeString(),
    (e) => e.kind,
    (e) => e.actor,
    (e) => [e.subject.destination, e.subject.deviceId, (e.subject.observationIds ?? []).map((id) => id.slice(0, 12)).join(' ')].filter(Boolean).join(' · '),
  ], 'No events yet.');
}

function showLogin(message = '') {
  clearInterval(timer);
  $('dashboard').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
}

async function showDashboard(session) {
  csrf = session.csrfToken ?? '';
  $('who').textContent = `${session.name ?? session.user?.name ?? ''} (${session.role ?? session.user?.role ?? ''})`;
  $('login').hidden = true;
  $('logout').hidden = false;
  $('dashboard').hidden = false;
  const tick = async () => {
    try {
      await refresh();
    } catch (err) {
      if (err instanceof Unauthorized) showLogin('Your session has ended; log in again.');
      else $('live').textContent = `Cannot reach the gateway: ${err.message}`;
    }
  };
  await tick();
  clearInterval(timer);
  timer = setInterval(tick, POLL_MS);
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const res = await fetch('/v1/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ name: form.get('name'), password: form.get('password') }),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) return showLogin(res.status === 429 ? 'Too many attempts; wait and try again.' : 'Wrong user or password.');
  e.target.reset();
  await showDashboard(json);
});

$('logout').addEventListener('submit', async (e) => {
  e.preventDefault();
  await api('/v1/logout', { method: 'POST', body: {} }).catch(() => undefined);
  csrf = '';
  showLogin();
});

try {
  await showDashboard(await api('/v1/session'));
} catch {
  showLogin();
}
