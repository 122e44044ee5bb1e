import { percent } from '../../monitor/status-rule.ts';
import type { ClusterView, PlatformView, StatusSnapshot, TransitionView } from './status-view.ts';

// The server-rendered status page: complete without JavaScript (it reloads
// itself every 10 s then); static/status.js keeps the same markup up to date
// from the event stream, so the two must build the same elements and classes.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside HTML elements and quoted attributes. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The whole page for a snapshot. */
export function renderStatusPage(view: StatusSnapshot): string {
  const rows = view.platforms.map((p, i) => renderRow(p, i, view.now, view.historySize, view.cluster)).join('\n');
  const timeline = view.transitions.slice().reverse().map(renderTransition).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${STATUS_WORDS[view.status]} — conductor-health`)}</title>
<link rel="icon" href="favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="status.css">
<script src="status.js" defer></script>
<noscript><meta http-equiv="refresh" content="10"></noscript>
</head>
<body>
<a class="skip" href="#platforms-heading">Skip to platforms</a>
<header class="top">
<div class="brand"><img src="favicon.svg" alt="" width="28" height="28"><h1>conductor-health</h1></div>
<p id="overall" class="overall overall-${view.status}" role="status" aria-live="polite"><span class="dot" aria-hidden="true"></span><span id="overall-text">${STATUS_WORDS[view.status]}</span></p>
<p class="meta">${view.cluster ? `${renderCluster(view.cluster)} · ` : ''}<span id="counts">${escapeHtml(countsText(view.platforms))}</span> · <span id="updated">updated ${formatTime(view.now)}</span> · <span id="connection" class="connection">static page</span></p>
</header>
<div id="banner" class="banner" role="alert"${view.degraded ? '' : ' hidden'}>${view.degraded ? escapeHtml(degradedText(view.degraded)) : ''}</div>
<main>
<section aria-labelledby="platforms-heading">
<h2 id="platforms-heading">Platforms</h2>
<ul id="reasons" class="reasons" aria-label="Why the status is not healthy">${view.reasons.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>
<div class="table-wrap">
<table id="platforms">
<caption>${view.cluster ? CAPTION_CLUSTER : CAPTION}</caption>
<thead><tr><th scope="col">Platform</th><th scope="col">Breaker</th><th scope="col">Last check</th><th scope="col">Latency, last ${view.historySize} checks</th><th scope="col">Success</th><th scope="col">Next trial</th>${view.cluster ? OWNER_HEADING : ''}</tr></thead>
<tbody id="platform-rows">
${rows}
</tbody>
</table>
</div>
<p id="no-platforms" class="empty"${view.platforms.length > 0 ? ' hidden' : ''}>No platforms registered.</p>
</section>
<section aria-labelledby="timeline-heading">
<h2 id="timeline-heading">Transitions</h2>
<ol id="timeline" class="timeline" aria-label="Breaker transitions, newest first">
${timeline}
</ol>
<p id="no-transitions" class="empty"${view.transitions.length > 0 ? ' hidden' : ''}>No breaker transitions yet.</p>
</section>
</main>
<footer class="foot"><p>Read-only. Live over Server-Sent Events; without JavaScript this page reloads every 10 s. Times are UTC.</p></footer>
</body>
</html>
`;
}

const STATUS_WORDS = { healthy: 'Healthy', degraded: 'Degraded', unhealthy: 'Unhealthy' } as const;

// The table's caption, and with a cluster the column of the replica that checks each platform
// (static/status.js words them alike).
const CAPTION = 'Breaker state, last check, recent latency, success share and next trial of each platform';
const CAPTION_CLUSTER = 'Breaker state, last check, recent latency and success share (of the checks this replica ran), next trial and checking replica of each platform';
const OWNER_HEADING = '<th scope="col" id="owner-heading">Checked by</th>';

/** With a cluster, the header names this replica and the members, or says it runs in local mode. */
function renderCluster(cluster: ClusterView): string {
  return `<span id="cluster" class="cluster${cluster.localMode ? ' cluster-local' : ''}" aria-live="polite">${escapeHtml(clusterText(cluster))}</span>`;
}

/** `replica replica-1 of 3: replica-0, replica-1, replica-2`, or its local mode. */
export function clusterText(c: ClusterView): string {
  if (c.localMode) return `replica ${c.replica} in local mode: Redis unreachable, checking every platform here`;
  const more = c.memberCount > c.members.length ? `, and ${c.memberCount - c.members.length} more` : '';
  return `replica ${c.replica} of ${c.memberCount}: ${c.members.join(', ')}${more}`;
}

function renderRow(p: PlatformView, i: number, now: number, historySize: number, cluster: ClusterView | undefined): string {
  const ran = [...p.checks].filter((c) => c !== 'r').length;
  const ok = [...p.checks].filter((c) => c === 's').length;
  const state = p.state.toLowerCase().replace('_', '-');
  return `<tr data-i="${i}" class="row row-${state}">
<th scope="row" class="c-name"><span class="name">${escapeHtml(p.name)}</span>${p.critical ? ' <span class="tag">critical</span>' : ''}</th>
<td class="c-state"><span class="state state-${state}">${p.state}</span>${p.failures > 0 ? `<span class="sub">${p.failures} consecutive ${p.failures === 1 ? 'failure' : 'failures'}</span>` : ''}</td>
<td class="c-last" data-label="Last check">${p.last ? `<span class="result result-${p.last}">${p.last}</span><span class="sub">${lastText(p)}</span>${p.lastBy === undefined ? '' : `<span class="sub by">on ${escapeHtml(p.lastBy)}</span>`}` : '<span class="sub">not checked yet</span>'}${p.error ? `<span class="error">${escapeHtml(p.error)}</span>` : ''}</td>
<td class="c-latency" data-label="Latency">${sparklineSvg(p.checks, p.ms, historySize)}</td>
<td class="c-success" data-label="Success">${ran > 0 ? `<span class="share">${Math.round((100 * ok) / ran)} %</span><span class="sub">of ${ran} checks</span>` : `<span class="share">—</span><span class="sub">${p.checks.length > 0 ? 'no check ran' : 'no checks yet'}</span>`}</td>
<td class="c-next" data-label="Next trial">${p.nextAt === undefined ? '<span class="sub">—</span>' : `<span class="next" data-at="${p.nextAt}">${countdownText(p.nextAt - now)}</span>`}</td>${cluster ? `\n${renderOwner(p, cluster)}` : ''}
</tr>`;
}

/** The replica that checks the platform now; this replica says so. */
function renderOwner(p: PlatformView, cluster: ClusterView): string {
  if (p.owner === undefined) return '<td class="c-owner" data-label="Checked by"><span class="sub">—</span></td>';
  return `<td class="c-owner" data-label="Checked by"><span class="owner">${escapeHtml(p.owner)}</span>${p.owner === cluster.replica ? '<span class="sub">this replica</span>' : ''}</td>`;
}

function renderTransition(t: TransitionView): string {
  const cls = (s: string) => `state state-${s.toLowerCase().replace('_', '-')}`;
  return `<li><time datetime="${new Date(t.at).toISOString()}">${formatTime(t.at)}</time> <span class="name">${escapeHtml(t.name)}</span> <span class="${cls(t.from)}">${t.from}</span> → <span class="${cls(t.to)}">${t.to}</span>${t.to === 'OPEN' ? ` <span class="sub">after ${t.failures} ${t.failures === 1 ? 'failure' : 'failures'}</span>` : ''}</li>`;
}

const SPARK_W = 120;
const SPARK_H = 28;
const SPARK_PAD = 3;

/**
 * Recent latencies as an inline SVG: a line through the checks that ran,
 * failures and timeouts as red dots, rejected checks as gaps. The newest
 * check sits at the right edge, one step per check of a `historySize` window.
 */
export function sparklineSvg(checks: string, ms: readonly number[], historySize: number): string {
  const n = checks.length;
  const ran = ms.filter((_, i) => checks[i] !== 'r');
  if (ran.length === 0) {
    return `<svg class="spark" viewBox="0 0 ${SPARK_W} ${SPARK_H}" width="${SPARK_W}" height="${SPARK_H}" role="img" aria-label="no latency: ${n === 0 ? 'no checks yet' : 'no check ran'}"><rect class="spark-bg" width="${SPARK_W}" height="${SPARK_H}" rx="3"/><line class="spark-base" x1="0" y1="${SPARK_H - SPARK_PAD}" x2="${SPARK_W}" y2="${SPARK_H - SPARK_PAD}"/></svg>`;
  }
  const max = Math.max(1, ...ran);
  const step = (SPARK_W - 2 * SPARK_PAD) / Math.max(1, historySize - 1);
  const x = (i: number) => (SPARK_W - SPARK_PAD - (n - 1 - i) * step).toFixed(1);
  const y = (v: number) => (SPARK_H - SPARK_PAD - (v / max) * (SPARK_H - 2 * SPARK_PAD)).toFixed(1);
  const lines: string[] = [];
  let points: string[] = [];
  const dots: string[] = [];
  for (let i = 0; i < n; i += 1) {
    if (checks[i] === 'r') {
      if (points.length > 0) lines.push(points.join(' '));
      points = [];
      continue;
    }
    points.push(`${x(i)},${y(ms[i]!)}`);
    if (checks[i] !== 's') dots.push(`<circle class="spark-fail" cx="${x(i)}" cy="${y(ms[i]!)}" r="2.5"/>`);
  }
  if (points.length > 0) lines.push(points.join(' '));
  const label = `latency of the last ${ran.length} checks: ${formatMs(Math.min(...ran))} to ${formatMs(max)}, last ${formatMs(ran.at(-1)!)}`;
  return `<svg class="spark" viewBox="0 0 ${SPARK_W} ${SPARK_H}" width="${SPARK_W}" height="${SPARK_H}" role="img" aria-label="${label}"><rect class="spark-bg" width="${SPARK_W}" height="${SPARK_H}" rx="3"/><line class="spark-base" x1="0" y1="${SPARK_H - SPARK_PAD}" x2="${SPARK_W}" y2="${SPARK_H - SPARK_PAD}"/>${lines
    .map((l) => `<polyline class="spark-line" points="${l}"/>`)
    .join('')}${dots.join('')}</svg>`;
}

function lastText(p: PlatformView): string {
  const parts = [];
  if (p.lastMs !== undefined && p.last !== 'rejected') parts.push(formatMs(p.lastMs));
  if (p.lastAt !== undefined) parts.push(formatTime(p.lastAt));
  return parts.join(' · ');
}

function countsText(platforms: readonly PlatformView[]): string {
  const open = platforms.filter((p) => p.state === 'OPEN').length;
  const half = platforms.filter((p) => p.state === 'HALF_OPEN').length;
  return `${platforms.length} ${platforms.length === 1 ? 'platform' : 'platforms'} · ${open} open · ${half} half-open`;
}

function degradedText(d: { resource: string; value: number; threshold: number }): string {
  return `Degraded mode: ${d.resource} at ${percent(d.value)} (threshold ${percent(d.threshold)}). Checks run less often and fewer at once until it recovers.`;
}

function countdownText(ms: number): string {
  return ms <= 0 ? 'due now' : `in ${Math.ceil(ms / 1000)} s`;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function formatTime(at: number): string {
  return `${new Date(at).toISOString().slice(11, 19)} UTC`;
}
