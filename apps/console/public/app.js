// The Hawser console's page: Preact components written with htm tagged templates (no build
// step, no JSX). The server pushes the whole cluster view over Server-Sent Events
// (/api/events) after every change; admin actions are JSON POSTs carrying the CSRF token.
import { h, render } from '/vendor/preact.mjs';
import { useEffect, useRef, useState } from '/vendor/hooks.mjs';
import htm from '/vendor/htm.mjs';

const html = htm.bind(h);

// ---- API -----------------------------------------------------------------------------------

let csrf = '';

async function api(path, body) {
  const init = body === undefined
    ? { credentials: 'same-origin' }
    : { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-hawser-csrf': csrf }, body: JSON.stringify(body) };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.error || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

// ---- formatting ----------------------------------------------------------------------------

const fmt = (n) => (n === undefined || n === null ? '' : Number(n).toLocaleString('en-US'));
const rate = (n) => (n === undefined || n === null ? '–' : n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'));
const time = (ms) => (ms ? new Date(ms).toLocaleTimeString('en-GB') : '');
const dateTime = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');

function Dot({ health }) {
  return html`<span class="dot ${health}" title=${health}></span>`;
}

// ---- login ---------------------------------------------------------------------------------

function Login({ onLogin }) {
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    setError('');
    try {
      const r = await api('/api/login', { login, password });
      csrf = r.csrf;
      onLogin(r.user);
    } catch (err) {
      setError(err.message);
    }
  };
  return html`
    <form class="panel login" onSubmit=${submit} data-testid="login">
      <h2>Log in to the Hawser console</h2>
      <label for="login">Login</label>
      <input id="login" name="login" type="text" autocomplete="username" value=${login} onInput=${(e) => setLogin(e.target.value)} />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" value=${password} onInput=${(e) => setPassword(e.target.value)} />
      ${error && html`<p class="error" data-testid="login-error">${error}</p>`}
      <div class="buttons" style="margin-top:1rem"><button class="primary" type="submit">Log in</button></div>
    </form>`;
}

// ---- cluster -------------------------------------------------------------------------------

function GroupPanel({ g }) {
  return html`
    <section class="panel" data-testid=${`group-${g.name}`} data-state=${g.state}>
      <h2>
        Group ${g.name}
        <span class="badge ${g.state}" data-testid="group-state">${g.state}</span>
        <span class="muted">epoch <b data-testid="group-epoch">${g.epoch}</b></span>
        <span class="muted">master <b data-testid="group-master">${g.masterId || '—'}</b></span>
        <span class="muted">${g.replicas ? `${g.members.length} of ${g.replicas} members` : ''}</span>
      </h2>
      ${g.message && html`<p class="msg">${g.message}</p>`}
      <table>
        <thead><tr><th></th><th>Node</th><th>Role</th><th class="num">Epoch</th><th class="num">Commit</th><th class="num">Last</th><th class="num">Lag</th><th class="num">Lag (s)</th><th>Address</th><th class="num">PID</th></tr></thead>
        <tbody>
          ${g.members.map((m) => html`
            <tr class=${m.role === 'master' || m.role === 'standalone' ? 'master' : ''} data-member=${m.id} data-role=${m.role}>
              <td><${Dot} health=${m.health} /></td>
              <td>${m.id}</td>
              <td><span class="badge ${m.role}">${m.role}</span></td>
              <td class="num">${m.epoch}</td>
              <td class="num">${fmt(m.commitPosition)}</td>
              <td class="num">${fmt(m.lastPosition)}</td>
              <td class="num">${fmt(m.lagEntries)}</td>
              <td class="num">${m.lagSeconds ? m.lagSeconds.toFixed(2) : '0'}</td>
              <td>${m.address}</td>
              <td class="num">${m.pid || ''}</td>
            </tr>`)}
        </tbody>
      </table>
    </section>`;
}

function ClusterTab({ view }) {
  return html`
    <div class="grid">
      <div>
        ${view.groups.length === 0 && html`<div class="panel muted">No groups in the topology yet.</div>`}
        ${view.groups.map((g) => html`<${GroupPanel} key=${g.name} g=${g} />`)}
        ${view.coordinators.length > 0 && html`
          <section class="panel" data-testid="coordinators">
            <h2>Coordinators</h2>
            <table>
              <thead><tr><th></th><th>Id</th><th>Role</th><th>Address</th><th class="num">HTTP</th><th class="num">PID</th></tr></thead>
              <tbody>${view.coordinators.map((c) => html`
                <tr><td><${Dot} health=${c.health} /></td><td>${c.id}</td><td>${c.leader ? html`<span class="badge leader">leader</span>` : 'follower'}</td><td>${c.address}</td><td class="num">${c.httpPort || ''}</td><td class="num">${c.pid || ''}</td></tr>`)}
              </tbody>
            </table>
          </section>`}
        ${view.gateways.length > 0 && html`
          <section class="panel" data-testid="gateways">
            <h2>Gateways</h2>
            <table>
              <thead><tr><th></th><th>Id</th><th>Group</th><th>Where</th><th>Host</th><th class="num">STOMP</th><th class="num">WS</th><th>Connections</th><th class="num">PID</th></tr></thead>
              <tbody>${view.gateways.map((g) => html`
                <tr><td><${Dot} health=${g.health} /></td><td>${g.id}</td><td>${g.group}</td><td>${g.node ? `in ${g.node}` : 'separate'}</td><td>${g.host}</td>
                  <td class="num">${g.stompPort || ''}</td><td class="num">${g.wsPort || ''}</td>
                  <td>${Object.keys(g.connections).length ? Object.entries(g.connections).map(([p, n]) => `${p} ${n}`).join(', ') : html`<span class="muted">–</span>`}</td>
                  <td class="num">${g.pid || ''}</td></tr>`)}
              </tbody>
            </table>
          </section>`}
        ${view.bridges.length > 0 && html`
          <section class="panel" data-testid="bridges">
            <h2>Bridges</h2>
            <table>
              <thead><tr><th></th><th>Link</th><th>Id</th><th>State</th><th>Groups</th><th class="num">Forwarded/s</th><th>Host</th><th class="num">PID</th></tr></thead>
              <tbody>${view.bridges.map((b) => html`
                <tr><td><${Dot} health=${b.health} /></td><td>${b.link}</td><td>${b.id}</td><td><span class="badge ${b.active ? 'active' : 'standby'}">${b.active ? 'active' : 'standby'}</span></td>
                  <td>${b.groups.join(' ⇄ ')}</td><td class="num">${rate(b.forwardedPerSecond)}</td><td>${b.host}</td><td class="num">${b.pid || ''}</td></tr>`)}
              </tbody>
            </table>
          </section>`}
      </div>
      <aside class="panel">
        <h2>What happened</h2>
        <ul class="events" data-testid="events">
          ${view.events.length === 0 && html`<li class="muted">Nothing since the console started.</li>`}
          ${[...view.events].reverse().map((e) => html`<li class=${e.kind}><time>${time(e.at)}</time><b>${e.group}</b> ${e.text}</li>`)}
        </ul>
      </aside>
    </div>`;
}

// ---- destinations --------------------------------------------------------------------------

function Confirm({ title, text, confirmLabel, danger, onConfirm, onClose, children }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const go = async () => {
    setBusy(true);
    setError('');
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  };
  return html`
    <div class="modal-back" onClick=${(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div class="modal" role="dialog" aria-modal="true" data-testid="confirm">
        <h3>${title}</h3>
        <p>${text}</p>
        ${children}
        ${error && html`<p class="error" data-testid="confirm-error">${error}</p>`}
        <div class="buttons">
          <button onClick=${onClose} disabled=${busy}>Cancel</button>
          <button class=${danger ? 'danger' : 'primary'} onClick=${go} disabled=${busy} data-testid="confirm-ok">${confirmLabel}</button>
        </div>
      </div>
    </div>`;
}

function SendForm({ state, set }) {
  return html`
    <div>
      <label for="send-body">Body</label>
      <textarea id="send-body" data-testid="send-body" value=${state.body} onInput=${(e) => set({ ...state, body: e.target.value })}></textarea>
      <label for="send-headers">Headers (one name=value a line)</label>
      <textarea id="send-headers" style="min-height:3rem" value=${state.headers} onInput=${(e) => set({ ...state, headers: e.target.value })}></textarea>
      <label><input type="checkbox" checked=${state.persistent} onChange=${(e) => set({ ...state, persistent: e.target.checked })} /> persistent</label>
    </div>`;
}

function parseHeaders(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

function Browse({ group, destination, onClose, refreshKey }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    const load = () => api(`/api/browse?group=${encodeURIComponent(group)}&destination=${encodeURIComponent(destination)}&limit=200`)
      .then((d) => { if (live) { setData(d); setError(''); } }, (e) => { if (live) setError(e.message); });
    load();
    // Again every few seconds while open, and at once when the queue's depth changes (refreshKey).
    const t = setInterval(load, 3000);
    return () => { live = false; clearInterval(t); };
  }, [group, destination, refreshKey]);
  return html`
    <section class="panel" data-testid="browse">
      <h2>Messages on ${destination} <span class="muted">(${group}, waiting, oldest first)</span>
        <span style="margin-left:auto"><button onClick=${onClose}>Close</button></span></h2>
      ${error && html`<p class="error">${error}</p>`}
      ${data && data.messages.length === 0 && html`<p class="muted" data-testid="browse-empty">No messages waiting.</p>`}
      ${data && data.messages.length > 0 && html`
        <table>
          <thead><tr><th>Id</th><th>Time</th><th class="num">Pri</th><th>Persistent</th><th class="num">Failed</th><th>Headers</th><th>Body</th></tr></thead>
          <tbody>${data.messages.map((m) => html`
            <tr data-message=${m.id}>
              <td>${m.id}</td><td>${dateTime(m.timestamp)}</td><td class="num">${m.priority}</td><td>${m.persistent ? 'yes' : 'no'}</td><td class="num">${m.deliveryCount}</td>
              <td class="headers">${Object.entries(m.headers).map(([k, v]) => html`<code>${k}=${v}</code>`)}</td>
              <td><pre class="body" data-testid="message-body">${m.body.text}${m.body.truncated ? ` … (${fmt(m.body.size)} bytes)` : ''}</pre>
                ${m.body.encoding === 'base64' && html`<span class="muted">binary, shown as base64</span>`}</td>
            </tr>`)}
          </tbody>
        </table>`}
    </section>`;
}

function DestinationsTab({ view, modal, setModal, notice }) {
  const groups = view.groups.map((g) => g.name);
  const [group, setGroup] = useState('');
  const [filter, setFilter] = useState('');
  const [browsing, setBrowsing] = useState(null);
  const [browseKey, setBrowseKey] = useState(0);
  const shownGroup = group && groups.includes(group) ? group : '';
  const rows = view.destinations
    .filter((d) => (!shownGroup || d.group === shownGroup) && (!filter || d.name.includes(filter)))
    .sort((a, b) => (b.dlq - a.dlq) || a.group.localeCompare(b.group) || a.name.localeCompare(b.name));
  const after = (msg) => { notice(msg); setBrowseKey((k) => k + 1); };
  const purge = (d) => setModal(html`<${Confirm} title="Purge ${d.name}?" danger confirmLabel="Purge"
    text=${`Delete the ${fmt(d.depth)} message(s) waiting on ${d.name} in group ${d.group}. Messages in flight to consumers stay. This cannot be undone.`}
    onConfirm=${async () => { const r = await api('/api/purge', { group: d.group, destination: d.name }); after(`Purged ${fmt(r.removed)} message(s) from ${d.name}.`); }}
    onClose=${() => setModal(null)} />`);
  const move = (d) => setModal(html`<${Confirm} title="Move messages from ${d.name}?" confirmLabel="Move"
    text=${`Move the ${fmt(d.depth)} message(s) waiting on ${d.name} back to the queue each came from (its originalDestination header). Each is removed here only after its copy is stored there.`}
    onConfirm=${async () => { const r = await api('/api/move', { group: d.group, from: d.name }); after(`Moved ${fmt(r.moved)} message(s) from ${d.name}${r.skipped ? `; ${r.skipped} had no original destination and stayed` : ''}.`); }}
    onClose=${() => setModal(null)} />`);
  // ActiveMQ's "Delete": refused by the store while the destination has consumers or subscribers.
  const remove = (d) => setModal(html`<${Confirm} title="Delete ${d.name}?" danger confirmLabel="Delete"
    text=${d.kind === 'topic'
      ? `Delete topic ${d.name} in group ${d.group}: its name and its retained message go. Refused while it has subscribers (durable ones: delete each by its durable: name first).`
      : `Delete ${d.kind === 'durable' ? 'durable subscription' : 'queue'} ${d.name} in group ${d.group} with the ${fmt(d.depth)} message(s) waiting on it; it leaves the list. Refused while it has consumers: close them first. This cannot be undone.`}
    onConfirm=${async () => { const r = await api('/api/delete', { group: d.group, destination: d.name }); if (browsing && browsing.name === d.name && browsing.group === d.group) setBrowsing(null); notice(`Deleted ${d.name}${r.removed ? ` and ${fmt(r.removed)} message(s)` : ''}.`); }}
    onClose=${() => setModal(null)} />`);
  const send = (d) => {
    let form = { body: 'Hello from the Hawser console', headers: '', persistent: true };
    const Dialog = () => {
      const [state, set] = useState(form);
      form = state;
      return html`<${Confirm} title="Send a test message to ${d.name}?" confirmLabel="Send"
        text=${`One message to ${d.name} in group ${d.group}, stored before the console answers.`}
        onConfirm=${async () => { const r = await api('/api/send', { group: d.group, destination: d.name, body: state.body, headers: parseHeaders(state.headers), persistent: state.persistent }); after(`Sent ${r.id} to ${d.name}.`); }}
        onClose=${() => setModal(null)}><${SendForm} state=${state} set=${set} /></${Confirm}>`;
    };
    setModal(html`<${Dialog} />`);
  };
  return html`
    <div>
      <div class="toolbar">
        <label style="margin:0">Group</label>
        <select value=${shownGroup} onChange=${(e) => setGroup(e.target.value)} data-testid="group-filter">
          <option value="">all</option>
          ${groups.map((g) => html`<option value=${g}>${g}</option>`)}
        </select>
        <input type="text" placeholder="filter by name" style="width:16rem" value=${filter} onInput=${(e) => setFilter(e.target.value)} />
        ${Object.entries(view.destinationErrors).map(([g, e]) => html`<span class="error">${g}: ${e}</span>`)}
      </div>
      <section class="panel">
        <table data-testid="destinations">
          <thead><tr><th>Destination</th><th>Group</th><th class="num">Depth</th><th class="num">In flight</th><th class="num">Consumers</th><th class="num">In/s</th><th class="num">Out/s</th><th class="num">Enqueued</th><th class="num">Dequeued</th><th>Actions</th></tr></thead>
          <tbody>
            ${rows.length === 0 && html`<tr><td colspan="10" class="muted">No destinations${filter ? ' match' : ' yet'}.</td></tr>`}
            ${rows.map((d) => html`
              <tr class=${`${d.dlq ? 'dlq' : ''} ${browsing && browsing.name === d.name && browsing.group === d.group ? 'selected' : ''}`} data-dest=${d.name} data-group=${d.group}>
                <td>${d.name} ${d.dlq && html`<span class="badge dlq">DLQ</span>`}</td>
                <td>${d.group}</td>
                <td class="num" data-testid="depth">${fmt(d.depth)}</td>
                <td class="num">${fmt(d.inflight)}</td>
                <td class="num">${fmt(d.consumers)}</td>
                <td class="num">${rate(d.enqueueRate)}</td>
                <td class="num">${rate(d.dequeueRate)}</td>
                <td class="num">${fmt(d.enqueued)}</td>
                <td class="num">${fmt(d.dequeued)}</td>
                <td><div class="actions">
                  ${d.kind !== 'topic' && html`<button onClick=${() => setBrowsing({ group: d.group, name: d.name })} data-action="browse">Browse</button>`}
                  ${d.kind !== 'durable' && html`<button onClick=${() => send(d)} disabled=${!d.canAdmin} title=${d.canAdmin ? '' : 'needs the admin permission'} data-action="send">Send</button>`}
                  ${d.kind !== 'topic' && html`<button class="danger" onClick=${() => purge(d)} disabled=${!d.canAdmin} title=${d.canAdmin ? '' : 'needs the admin permission'} data-action="purge">Purge</button>`}
                  <button class="danger" onClick=${() => remove(d)} disabled=${!d.canAdmin} title=${d.canAdmin ? '' : 'needs the admin permission'} data-action="delete">Delete</button>
                  ${d.dlq && html`<button onClick=${() => move(d)} disabled=${!d.canAdmin || d.depth === 0} title=${d.canAdmin ? '' : 'needs the admin permission'} data-action="move">Move back</button>`}
                </div></td>
              </tr>`)}
          </tbody>
        </table>
      </section>
      ${browsing && html`<${Browse} group=${browsing.group} destination=${browsing.name} onClose=${() => setBrowsing(null)}
        refreshKey=${`${browseKey}/${(view.destinations.find((d) => d.group === browsing.group && d.name === browsing.name) || {}).depth}`} />`}
      ${modal}
    </div>`;
}

// ---- charts --------------------------------------------------------------------------------

const COLORS = ['#2f5fd0', '#1f9d55', '#d68a00', '#d0312d', '#7b3fc4', '#0f8a8a'];

function Chart({ title, series, unit }) {
  const W = 600; const H = 160; const L = 44; const B = 18;
  const all = series.flatMap((s) => s.points);
  const now = Date.now();
  const t0 = all.length ? Math.min(...all.map((p) => p[0])) : now - 60_000;
  const t1 = Math.max(now, t0 + 1);
  const max = Math.max(1e-9, ...all.map((p) => p[1]));
  const top = all.some((p) => p[1] > 0) ? niceMax(max) : 1;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - 4);
  const y = (v) => H - B - (v / top) * (H - B - 6);
  return html`
    <div class="chart">
      <h4>${title}</h4>
      <svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">
        <line class="axis" x1=${L} y1=${H - B} x2=${W} y2=${H - B} />
        <line class="axis" x1=${L} y1="6" x2=${L} y2=${H - B} />
        <text x=${L - 4} y="12" text-anchor="end">${short(top)}</text>
        <text x=${L - 4} y=${H - B} text-anchor="end">0</text>
        <text x=${L} y=${H - 4}>${time(t0)}</text>
        <text x=${W - 4} y=${H - 4} text-anchor="end">${time(t1)}</text>
        ${series.map((s, i) => s.points.length > 0 && html`<polyline fill="none" stroke=${COLORS[i % COLORS.length]} stroke-width="1.6"
          points=${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')} />`)}
      </svg>
      <div class="legend">${series.map((s, i) => html`<span><i style=${`background:${COLORS[i % COLORS.length]}`}></i>${s.label} ${s.points.length ? short(s.points[s.points.length - 1][1]) : '–'}${unit ? ` ${unit}` : ''}</span>`)}</div>
    </div>`;
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
function short(v) {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 100) return Math.round(v).toString();
  return Number(v.toFixed(2)).toString();
}

function ChartsTab({ view }) {
  const [hist, setHist] = useState({});
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    const load = () => api('/api/history').then((d) => { if (live) { setHist(d); setError(''); } }, (e) => { if (live) setError(e.message); });
    load();
    const t = setInterval(load, 2000);
    return () => { live = false; clearInterval(t); };
  }, []);
  const pts = (name) => hist[name] || [];
  return html`
    <div>
      ${error && html`<p class="error">${error}</p>`}
      <p class="muted">The last minutes as the console measured them since it started (kept in memory): the masters' Admin.Destinations and the services' /metrics.</p>
      ${view.groups.map((g) => html`
        <section class="panel" data-testid=${`charts-${g.name}`}>
          <h2>Group ${g.name}</h2>
          <div class="charts">
            <${Chart} title="Messages per second" series=${[{ label: 'in', points: pts(`group/${g.name}/enqueueRate`) }, { label: 'out', points: pts(`group/${g.name}/dequeueRate`) }]} unit="/s" />
            <${Chart} title="Depth (queues and durable subscriptions)" series=${[{ label: 'waiting', points: pts(`group/${g.name}/depth`) }]} />
            <${Chart} title="Replica lag (entries)" series=${g.members.map((m) => ({ label: m.id, points: pts(`lag/${g.name}/${m.id}`) }))} />
            <${Chart} title="Receipt latency (mean: SEND read to RECEIPT written, at the gateways)"
              series=${[{ label: 'receipt', points: pts(`group/${g.name}/receiptMs`) }, { label: 'commit', points: pts(`group/${g.name}/commitMs`) }]
                .filter((x) => x.label === 'receipt' || x.points.some((p) => p[1] > 0))} unit="ms" />
          </div>
        </section>`)}
      ${view.bridges.length > 0 && html`
        <section class="panel"><h2>Bridges</h2><div class="charts">
          <${Chart} title="Forwarded per second" series=${view.bridges.map((b) => ({ label: `${b.link} (${b.id})`, points: pts(`bridge/${b.id}/forwardedRate`) }))} unit="/s" />
        </div></section>`}
    </div>`;
}

// ---- the app -------------------------------------------------------------------------------

function App() {
  const [session, setSession] = useState(null);
  const [view, setView] = useState(null);
  const [live, setLive] = useState(false);
  const [tab, setTab] = useState(location.hash.slice(1) || 'cluster');
  const [modal, setModal] = useState(null);
  const [message, setMessage] = useState(null);
  const timer = useRef(null);

  useEffect(() => {
    api('/api/session').then((s) => { csrf = s.csrf; setSession(s); }, (e) => setMessage({ bad: true, text: e.message }));
    const onHash = () => setTab(location.hash.slice(1) || 'cluster');
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  const loggedIn = session && (!session.authRequired || session.user);
  useEffect(() => {
    if (!loggedIn) return undefined;
    const es = new EventSource('/api/events');
    es.addEventListener('view', (e) => { setView(JSON.parse(e.data)); setLive(true); });
    es.onerror = () => {
      setLive(false);
      // A 401 (logged out elsewhere, console restarted) ends the stream: ask again.
      api('/api/session').then((s) => { if (s.authRequired && !s.user) { es.close(); csrf = s.csrf; setSession(s); } }, () => {});
    };
    return () => es.close();
  }, [loggedIn]);

  const notice = (text, bad = false) => {
    setMessage({ text, bad });
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setMessage(null), 6000);
  };

  if (!session) return html`<p class="loading">Loading…</p>`;
  if (!loggedIn) return html`<${Login} onLogin=${(user) => setSession({ ...session, user, csrf })} />`;
  const logout = async () => {
    await api('/api/logout', {}).catch(() => {});
    const s = await api('/api/session');
    csrf = s.csrf;
    setView(null);
    setSession(s);
  };
  const go = (t) => { location.hash = t; setTab(t); };
  return html`
    <header>
      <h1>Hawser</h1>
      <nav>
        ${[['cluster', 'Cluster'], ['destinations', 'Destinations'], ['charts', 'Charts']].map(([id, label]) => html`
          <button class=${tab === id ? 'active' : ''} onClick=${() => go(id)} data-tab=${id}>${label}</button>`)}
      </nav>
      <div class="right">
        <span class="live" data-testid="live"><span class="dot ${live && view && view.connected ? 'live' : 'down'}"></span>${live ? (view && view.connected ? 'live' : `live, but ${view ? view.error || 'the topology is not current' : '…'}`) : 'reconnecting…'}</span>
        ${view && html`<span>topology v${view.version}</span>`}
        ${session.authRequired && html`<span data-testid="user">${session.user.login} (${session.user.groups.join(', ') || 'no groups'})</span><button onClick=${logout}>Log out</button>`}
      </div>
    </header>
    <main>
      ${message && html`<div class="notice ${message.bad ? 'bad' : 'good'}" data-testid="notice">${message.text}</div>`}
      ${!view && html`<p class="muted">Waiting for the first view of the cluster…</p>`}
      ${view && tab === 'cluster' && html`<${ClusterTab} view=${view} />`}
      ${view && tab === 'destinations' && html`<${DestinationsTab} view=${view} modal=${modal} setModal=${setModal} notice=${notice} />`}
      ${view && tab === 'charts' && html`<${ChartsTab} view=${view} />`}
    </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
