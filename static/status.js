// Keeps the server-rendered status page current from its event stream
// (src/http/status-page/). It builds the same markup as status-html.ts, with
// DOM calls and textContent only: no HTML from data, no inline handlers.
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const WORDS = { healthy: 'Healthy', degraded: 'Degraded', unhealthy: 'Unhealthy' };
  // The letters of STATUS_LETTERS in src/http/status-page/status-view.ts.
  const RESULTS = { s: 'success', f: 'failure', t: 'timeout', r: 'rejected' };
  const W = 120;
  const H = 28;
  const PAD = 3;
  const MAX_TIMELINE = 100;

  const $ = (id) => document.getElementById(id);
  const rowsBody = $('platform-rows');
  const timeline = $('timeline');
  const connection = $('connection');

  /** Row state by index, as the server numbers them in its last snapshot. */
  let rows = [];
  let historySize = 30;
  /** Server clock minus ours, so countdowns follow the server. */
  let skew = 0;
  /** With a cluster, the replicas as the server's replica sees them (ClusterView in status-view.ts); else null. */
  let cluster = null;

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  // A cell with the label a narrow screen shows above it (the column headers are hidden there).
  const cell = (className, label) => {
    const td = el('td', className);
    td.dataset.label = label;
    return td;
  };
  const svgEl = (tag, attrs) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  };
  const stateClass = (state) => state.toLowerCase().replace('_', '-');
  const plural = (n, word) => `${n} ${n === 1 ? word : `${word}s`}`;
  const formatMs = (ms) => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
  const formatTime = (at) => `${new Date(at).toISOString().slice(11, 19)} UTC`;
  // As percent() in src/monitor/status-rule.ts, which words the reasons below the banner.
  const percent = (ratio) => `${Number((ratio * 100).toFixed(ratio < 0.1 ? 1 : 0))} %`;
  const countdown = (ms) => (ms <= 0 ? 'due now' : `in ${Math.ceil(ms / 1000)} s`);

  function sparkline(checks, ms) {
    const step = (W - 2 * PAD) / Math.max(1, historySize - 1);
    const n = checks.length;
    const ran = ms.filter((_, i) => checks[i] !== 'r');
    const svg = svgEl('svg', { class: 'spark', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img' });
    svg.appendChild(svgEl('rect', { class: 'spark-bg', width: W, height: H, rx: 3 }));
    svg.appendChild(svgEl('line', { class: 'spark-base', x1: 0, y1: H - PAD, x2: W, y2: H - PAD }));
    if (ran.length === 0) {
      svg.setAttribute('aria-label', `no latency: ${n === 0 ? 'no checks yet' : 'no check ran'}`);
      return svg;
    }
    const max = Math.max(1, ...ran);
    const x = (i) => (W - PAD - (n - 1 - i) * step).toFixed(1);
    const y = (v) => (H - PAD - (v / max) * (H - 2 * PAD)).toFixed(1);
    const lines = [];
    const dots = [];
    let points = [];
    for (let i = 0; i < n; i += 1) {
      if (checks[i] === 'r') {
        if (points.length > 0) lines.push(points.join(' '));
        points = [];
        continue;
      }
      points.push(`${x(i)},${y(ms[i])}`);
      if (checks[i] !== 's') dots.push({ cx: x(i), cy: y(ms[i]) });
    }
    if (points.length > 0) lines.push(points.join(' '));
    for (const l of lines) svg.appendChild(svgEl('polyline', { class: 'spark-line', points: l }));
    for (const d of dots) svg.appendChild(svgEl('circle', { class: 'spark-fail', cx: d.cx, cy: d.cy, r: 2.5 }));
    svg.setAttribute('aria-label', `latency of the last ${ran.length} checks: ${formatMs(Math.min(...ran))} to ${formatMs(max)}, last ${formatMs(ran[ran.length - 1])}`);
    return svg;
  }

  function fillRow(tr, p, i) {
    const state = stateClass(p.state);
    tr.dataset.i = String(i);
    tr.className = `row row-${state}`;
    tr.replaceChildren();

    const name = el('th', 'c-name');
    name.scope = 'row';
    name.appendChild(el('span', 'name', p.name));
    if (p.critical) name.append(' ', el('span', 'tag', 'critical'));

    const breaker = el('td', 'c-state');
    breaker.appendChild(el('span', `state state-${state}`, p.state));
    if (p.failures > 0) breaker.appendChild(el('span', 'sub', `${p.failures} consecutive ${p.failures === 1 ? 'failure' : 'failures'}`));

    const last = cell('c-last', 'Last check');
    if (p.last) {
      const parts = [];
      if (p.lastMs !== undefined && p.last !== 'rejected') parts.push(formatMs(p.lastMs));
      if (p.lastAt !== undefined) parts.push(formatTime(p.lastAt));
      last.append(el('span', `result result-${p.last}`, p.last), el('span', 'sub', parts.join(' · ')));
      if (p.lastBy !== undefined) last.appendChild(el('span', 'sub by', `on ${p.lastBy}`));
    } else {
      last.appendChild(el('span', 'sub', 'not checked yet'));
    }
    if (p.error) last.appendChild(el('span', 'error', p.error));

    const latency = cell('c-latency', 'Latency');
    latency.appendChild(sparkline(p.checks, p.ms));

    const success = cell('c-success', 'Success');
    const ran = [...p.checks].filter((c) => c !== 'r').length;
    const ok = [...p.checks].filter((c) => c === 's').length;
    if (ran > 0) success.append(el('span', 'share', `${Math.round((100 * ok) / ran)} %`), el('span', 'sub', `of ${ran} checks`));
    else success.append(el('span', 'share', '—'), el('span', 'sub', p.checks.length > 0 ? 'no check ran' : 'no checks yet'));

    const next = cell('c-next', 'Next trial');
    if (p.nextAt === undefined) next.appendChild(el('span', 'sub', '—'));
    else {
      const span = el('span', 'next', countdown(p.nextAt - (Date.now() + skew)));
      span.dataset.at = String(p.nextAt);
      next.appendChild(span);
    }
    tr.append(name, breaker, last, latency, success, next);
    if (cluster) {
      const owner = cell('c-owner', 'Checked by');
      if (p.owner === undefined) owner.appendChild(el('span', 'sub', '—'));
      else {
        owner.appendChild(el('span', 'owner', p.owner));
        if (p.owner === cluster.replica) owner.appendChild(el('span', 'sub', 'this replica'));
      }
      tr.appendChild(owner);
    }
  }

  // As CAPTION, CAPTION_CLUSTER and OWNER_HEADING in status-html.ts.
  const CAPTION = 'Breaker state, last check, recent latency, success share and next trial of each platform';
  const CAPTION_CLUSTER = 'Breaker state, last check, recent latency and success share (of the checks this replica ran), next trial and checking replica of each platform';

  /** The column of the replica that checks each platform, there with a cluster only (the stream may come from another process than the page). */
  function showOwnerColumn() {
    let heading = $('owner-heading');
    if (cluster && !heading) {
      heading = el('th', '', 'Checked by');
      heading.scope = 'col';
      heading.id = 'owner-heading';
      document.querySelector('#platforms thead tr').appendChild(heading);
    } else if (!cluster && heading) heading.remove();
    document.querySelector('#platforms caption').textContent = cluster ? CAPTION_CLUSTER : CAPTION;
  }

  /** As clusterText() in status-html.ts. */
  function clusterText(c) {
    if (c.localMode) return `replica ${c.replica} in local mode: Redis unreachable, checking every platform here`;
    const more = c.memberCount > c.members.length ? `, and ${c.memberCount - c.members.length} more` : '';
    return `replica ${c.replica} of ${c.memberCount}: ${c.members.join(', ')}${more}`;
  }

  /** The header's word on the cluster, before the counts; gone without one. */
  function showCluster() {
    let span = $('cluster');
    if (!cluster) {
      if (span) {
        span.nextSibling.remove(); // its ' · '
        span.remove();
      }
      return;
    }
    if (!span) {
      span = el('span');
      span.id = 'cluster';
      span.setAttribute('aria-live', 'polite');
      $('counts').before(span, ' · ');
    }
    span.className = cluster.localMode ? 'cluster cluster-local' : 'cluster';
    // A live region: touched only when its words change, so each change is announced once.
    const text = clusterText(cluster);
    if (span.textContent !== text) span.textContent = text;
  }

  function transitionItem(t) {
    const li = el('li');
    const time = el('time', '', formatTime(t.at));
    time.dateTime = new Date(t.at).toISOString();
    li.append(time, ' ', el('span', 'name', t.name), ' ', el('span', `state state-${stateClass(t.from)}`, t.from), ' → ', el('span', `state state-${stateClass(t.to)}`, t.to));
    if (t.to === 'OPEN') li.append(' ', el('span', 'sub', `after ${plural(t.failures, 'failure')}`));
    return li;
  }

  function showSummary(s) {
    skew = s.now - Date.now();
    cluster = s.cluster || null;
    showCluster();
    const overall = $('overall');
    const word = WORDS[s.status] || s.status;
    // A live region: touch it only when the status changes, so it is announced once.
    if ($('overall-text').textContent !== word) {
      overall.className = `overall overall-${s.status}`;
      $('overall-text').textContent = word;
    }
    document.title = `${WORDS[s.status] || s.status} — conductor-health`;
    $('updated').textContent = `updated ${formatTime(s.now)}`;
    const banner = $('banner');
    banner.hidden = !s.degraded;
    banner.textContent = s.degraded
      ? `Degraded mode: ${s.degraded.resource} at ${percent(s.degraded.value)} (threshold ${percent(s.degraded.threshold)}). Checks run less often and fewer at once until it recovers.`
      : '';
    $('reasons').replaceChildren(...s.reasons.map((r) => el('li', '', r)));
  }

  function showCounts() {
    const open = rows.filter((r) => r.view.state === 'OPEN').length;
    const half = rows.filter((r) => r.view.state === 'HALF_OPEN').length;
    $('counts').textContent = `${plural(rows.length, 'platform')} · ${open} open · ${half} half-open`;
    $('no-platforms').hidden = rows.length > 0;
  }

  function addTransitions(list) {
    for (const t of list) timeline.insertBefore(transitionItem(t), timeline.firstChild);
    while (timeline.children.length > MAX_TIMELINE) timeline.lastElementChild.remove();
    $('no-transitions').hidden = timeline.children.length > 0;
  }

  function onSnapshot(s) {
    historySize = s.historySize;
    showSummary(s);
    showOwnerColumn();
    rows = s.platforms.map(newRow);
    rowsBody.replaceChildren(...rows.map((r) => r.tr));
    timeline.replaceChildren();
    addTransitions(s.transitions);
    showCounts();
  }

  function newRow(view, i) {
    const tr = document.createElement('tr');
    fillRow(tr, view, i);
    return { tr, view };
  }

  /** Rows that went (indices before the update), then rows that came (indices after it), both ascending. */
  function changeRows(removed, added) {
    for (let k = removed.length - 1; k >= 0; k -= 1) {
      const [row] = rows.splice(removed[k], 1);
      if (row) row.tr.remove();
    }
    for (const { i, ...view } of added) {
      const row = newRow(view, i);
      rowsBody.insertBefore(row.tr, rows[i] ? rows[i].tr : null);
      rows.splice(i, 0, row);
    }
    // Rows after a change moved: their index is what updates address.
    rows.forEach((row, i) => (row.tr.dataset.i = String(i)));
  }

  function onUpdate(u) {
    showSummary(u);
    if (u.removed || u.added) changeRows(u.removed || [], u.added || []);
    const touched = new Set();
    // New checks come as columns; a row's last result is its newest check.
    const c = u.checks;
    for (let k = 0; k < c.row.length; k += 1) {
      const row = rows[c.row[k]];
      if (!row) continue;
      const view = row.view;
      view.checks = (view.checks + c.status[k]).slice(-historySize);
      view.ms = view.ms.concat(c.ms[k]).slice(-historySize);
      view.last = RESULTS[c.status[k]];
      view.lastAt = u.now + c.at[k];
      view.lastMs = c.ms[k];
      touched.add(c.row[k]);
    }
    // Other fields only when they changed (null: gone).
    for (const change of u.rows) {
      const row = rows[change.i];
      if (!row) continue;
      for (const [key, value] of Object.entries(change)) {
        if (key === 'i') continue;
        if (value === null) delete row.view[key];
        else row.view[key] = value;
      }
      touched.add(change.i);
    }
    for (const i of touched) fillRow(rows[i].tr, rows[i].view, i);
    addTransitions(u.transitions);
    showCounts();
  }

  function tick() {
    const now = Date.now() + skew;
    for (const span of rowsBody.querySelectorAll('.next')) span.textContent = countdown(Number(span.dataset.at) - now);
  }

  const handle = (fn) => (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    fn(data);
  };

  const source = new EventSource('events');
  // Updates apply to a snapshot. Coming back, the EventSource sends the id of
  // the last event it got, and the server answers with what the page missed
  // or a new snapshot: what the page holds stays consistent across reconnects.
  let live = false;
  // The server ends every stream at its age with 'bye': the reconnect that
  // follows is routine, not a lost server.
  let bye = false;
  source.addEventListener('snapshot', handle((s) => {
    live = true;
    onSnapshot(s);
  }));
  source.addEventListener('update', handle((u) => {
    if (live) onUpdate(u);
  }));
  source.addEventListener('bye', () => (bye = true));
  source.addEventListener('open', () => {
    bye = false;
    connection.textContent = 'live';
    connection.className = 'connection connection-live';
  });
  source.addEventListener('error', () => {
    if (bye && source.readyState !== EventSource.CLOSED) return;
    connection.textContent = source.readyState === EventSource.CLOSED ? 'disconnected (reload to retry)' : 'reconnecting…';
    connection.className = 'connection connection-lost';
  });
  setInterval(tick, 1000);
})();
