// The dashboard's script. Every value from the API is rendered as text (textContent, setAttribute), never
// parsed as HTML: titles and teams are whatever people typed. Served from /static under a CSP without
// inline script. Charts are SVG laid out after their text is measured, so no label runs into a bar or
// out of its chart (a label that does not fit is shortened with "…" and keeps its full text as a tooltip).
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2f80ed", "#f2994a", "#27ae60", "#9b51e0", "#eb5757", "#9aa5b1"];

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function html(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const child of children) e.append(child instanceof Node ? child : String(child));
  return e;
}

function empty(box, text) {
  box.replaceChildren(html("div", {class: "empty"}, text));
}

// Shorten an SVG text element until it fits in `width` pixels; the full text stays as its tooltip.
function fit(el, width) {
  const full = el.textContent;
  if (el.getComputedTextLength() <= width) return;
  let keep = full.length;
  while (keep > 1 && el.getComputedTextLength() > width) {
    keep -= 1;
    el.textContent = full.slice(0, keep) + "…";
  }
  el.appendChild(svg("title", {}, full));
}

// A duration in the unit that suits it: "45 s", "12 min", "5.5 h", "3.2 d".
function duration(seconds) {
  const s = seconds || 0;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(s < 36000 ? 1 : 0)} h`;
  return `${(s / 86400).toFixed(s < 864000 ? 1 : 0)} d`;
}

// Horizontal bars: a label column, the bar, its value text after it (value2: a thin second bar). The chart
// takes its card's width; the label column is as wide as the longest label, up to 45% of it.
function bars(target, items, opts) {
  const box = document.getElementById(target);
  if (!items.length) { empty(box, "no data yet"); return; }
  const w = Math.max(box.clientWidth || 440, 360), row = 22, h = items.length * row + 10;
  const max = opts.max || Math.max(...items.map(i => Math.max(i.value, i.value2 || 0)), 1e-9);
  const chart = svg("svg", {width: w, height: h, role: "img", class: "chart"});
  box.replaceChildren(chart);  // in the page, so its text can be measured
  // 2 px in: some glyphs (a "T") reach a little left of where their text starts
  const labels = items.map((item, n) => chart.appendChild(svg("text", {x: 2, y: n * row + 17, class: "label"}, item.label)));
  const left = Math.min(Math.ceil(Math.max(...labels.map(l => l.getComputedTextLength()))) + 14, Math.floor(0.45 * w));
  let cumulative = 0;
  const total = items.reduce((a, i) => a + i.value, 0) || 1;
  const values = items.map(item => {
    cumulative += item.value;
    const text = opts.pareto ? `${item.text} · ${Math.round(100 * cumulative / total)}%` : item.text;
    return chart.appendChild(svg("text", {class: "value"}, text));
  });
  // the value texts need this much room right of the longest bar
  const room = Math.min(Math.ceil(Math.max(...values.map(v => v.getComputedTextLength()))) + 8, w - left - 40);
  const span = w - left - room;
  items.forEach((item, n) => {
    const y = n * row + 4, bw = span * item.value / max;
    fit(labels[n], left - 10);
    chart.appendChild(svg("rect", {x: left, y, width: Math.max(bw, 1), height: 14, fill: opts.color, class: "bar"}));
    const bw2 = item.value2 !== undefined ? span * item.value2 / max : 0;
    if (item.value2 !== undefined) {
      chart.appendChild(svg("rect", {x: left, y: y + 10, width: Math.max(bw2, 1), height: 4, fill: "#9aa5b1"}));
    }
    const end = left + Math.max(bw, bw2, 1);
    values[n].setAttribute("x", end + 4);
    values[n].setAttribute("y", y + 12);
    fit(values[n], w - end - 6);
  });
}

// One row per period: the shares of its stalls by reason, stacked, with a legend of the reasons below.
function stacked(target, periods, keys, names) {
  const box = document.getElementById(target);
  if (!periods.length) { empty(box, "no stalls yet"); return; }
  const w = Math.max(box.clientWidth || 440, 360), row = 22, left = 80, legendRow = 18;
  const h = periods.length * row + 10 + Math.ceil(keys.length / 2) * legendRow + 8;
  const chart = svg("svg", {width: w, height: h, role: "img", class: "chart"});
  box.replaceChildren(chart);
  periods.forEach((p, n) => {
    const y = n * row + 4;
    fit(chart.appendChild(svg("text", {x: 2, y: y + 13, class: "label"}, p.period)), left - 10);
    let x = left;
    keys.forEach((key, k) => {
      const width = (w - left - 10) * (p.shares[key] || 0);
      if (width <= 0) return;
      const seg = chart.appendChild(svg("rect", {x, y, width, height: 14, fill: COLORS[k % COLORS.length], class: "bar"}));
      seg.appendChild(svg("title", {}, `${names[key]}: ${Math.round(100 * p.shares[key])}%`));
      x += width;
    });
  });
  const top = periods.length * row + 14;
  keys.forEach((key, k) => {
    const x = 2 + (k % 2) * (w / 2), y = top + Math.floor(k / 2) * legendRow;
    chart.appendChild(svg("rect", {x, y, width: 10, height: 10, fill: COLORS[k % COLORS.length]}));
    fit(chart.appendChild(svg("text", {x: x + 14, y: y + 9, class: "label"}, names[key])), w / 2 - 20);
  });
}

const pct = v => v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`;

// The page's filters, as the reports take them (empty ones left out).
function filters() {
  const params = new URLSearchParams(window.location.search);
  params.delete("token");
  for (const [k, v] of [...params]) if (!v.trim()) params.delete(k);
  return params;
}

async function get(name) {
  const r = await fetch(`/v1/reports/${name}?${filters()}`, {credentials: "same-origin"});
  if (!r.ok) throw new Error(`${name}: ${r.status}`);
  return r.json();
}

function stalledTable(rows) {
  const box = document.getElementById("stalled");
  if (!rows.length) { empty(box, "nothing is stalled"); return; }
  const head = html("tr", {}, ...["initiative", "team", "stage", "reason", "stalled", "who must act"].map(t => html("th", {}, t)));
  const body = rows.map(r => html("tr", {},
    html("td", {}, r.title), html("td", {}, r.team), html("td", {}, r.stage),
    html("td", {}, r.family ? `${r.family} · ${r.reason_code}` : (r.reason_code || "")),
    html("td", {}, duration(r.stalled_seconds)), html("td", {}, (r.awaiting_roles || []).join(", "))));
  box.replaceChildren(html("table", {id: "stalled-table"}, head, ...body));
}

function trends(cohorts) {
  bars("cohorts", cohorts.rows.map(r => ({
    label: `${r.period} (${r.submitted})`,
    value: r.pilot_to_production_rate || 0,
    value2: r.poc_abandonment_rate || 0,
    text: `${pct(r.pilot_to_production_rate)} to production · ${pct(r.poc_abandonment_rate)} dropped in PoC`,
  })), {color: "#2f80ed", max: 1});
  // the five reasons with the most stalls overall; the rest as "other"
  const totals = {}, names = {};
  for (const r of cohorts.stall_reasons) {
    const key = `${r.family}/${r.code}`;
    totals[key] = (totals[key] || 0) + r.stalls;
    names[key] = r.family ? `${r.family} · ${r.code}` : `${r.code}`;
  }
  const top = Object.keys(totals).sort((a, b) => totals[b] - totals[a] || (a < b ? -1 : 1)).slice(0, 5);
  const byPeriod = {};
  for (const r of cohorts.stall_reasons) {
    const key = `${r.family}/${r.code}`, slot = top.includes(key) ? key : "other";
    const p = byPeriod[r.period] || (byPeriod[r.period] = {period: r.period, shares: {}});
    p.shares[slot] = (p.shares[slot] || 0) + r.share;
  }
  const keys = Object.values(byPeriod).some(p => p.shares.other) ? [...top, "other"] : top;
  names.other = "other reasons";
  stacked("stall-trend", Object.values(byPeriod).sort((a, b) => (a.period < b.period ? -1 : 1)), keys, names);
}

function showFilters() {
  const params = new URLSearchParams(window.location.search);
  for (const name of ["team", "business_unit", "period"]) {
    const input = document.querySelector(`#filters [name="${name}"]`);
    if (input && params.get(name)) input.value = params.get(name);
  }
}

async function main() {
  showFilters();
  const [funnel, stalls, scraps, time, cost, now, cohorts] = await Promise.all(
    ["funnel", "stall-reasons", "scrap-reasons", "time-in-stage", "sunk-cost", "stalled-now", "cohorts"].map(get));
  document.getElementById("sub").textContent = `${funnel.total} initiatives · base rates in brackets`;
  const base = funnel.base_rates || {};
  document.getElementById("kpis").replaceChildren(...[
    ["reached production", funnel.reached_production, ""],
    ["abandoned in PoC", pct(funnel.poc_abandonment_rate), `(${pct(base.poc_abandonment_rate)})`],
    ["scrapped after PoC", pct(funnel.post_poc_scrap_rate), `(${pct(base.post_poc_scrap_rate)})`],
    ["pilot → production", pct(funnel.pilot_to_production_rate), `(${pct(base.pilot_to_production_rate)})`],
  ].map(([l, v, b]) => html("div", {class: "kpi"}, html("b", {}, v), html("span", {}, `${l} ${b}`))));
  bars("funnel", funnel.stages.map(s => ({label: s.stage, value: s.reached, text: `${s.reached}`})), {color: "#2f80ed"});
  const stallRows = {};
  for (const r of stalls.rows) {
    const label = r.family ? `${r.family} · ${r.code}` : `${r.code}`;
    stallRows[label] = (stallRows[label] || 0) + r.stalls;
  }
  bars("stalls", Object.entries(stallRows).map(([k, v]) => ({label: k, value: v, text: `${v}`}))
       .sort((a, b) => b.value - a.value), {color: "#f2994a", pareto: true});
  const scrapRows = {};
  for (const r of scraps.rows) {
    const label = r.family ? `${r.family} · ${r.code}` : `${r.code}`;
    scrapRows[label] = (scrapRows[label] || 0) + r.initiatives;
  }
  bars("scraps", Object.entries(scrapRows).map(([k, v]) => ({label: k, value: v, text: `${v}`}))
       .sort((a, b) => b.value - a.value), {color: "#eb5757", pareto: true});
  bars("time", time.rows.map(r => ({label: r.stage, value: r.p50_seconds || 0,
       value2: r.p90_seconds || 0, text: `${duration(r.p50_seconds)} / ${duration(r.p90_seconds)}`})),
       {color: "#27ae60"});
  bars("cost", cost.rows.map(r => ({label: `${r.code} (${r.stage})`, value: r.total_usd,
       text: `$${Math.round(r.total_usd).toLocaleString("en-US")}`})).sort((a, b) => b.value - a.value),
       {color: "#9b51e0"});
  trends(cohorts);
  stalledTable(now.rows);
  document.body.setAttribute("data-ready", "true");
}

main().catch(e => {
  document.getElementById("sub").replaceChildren(html("span", {class: "err"}, String(e)));
  document.body.setAttribute("data-ready", "error");
});
