// The dashboard's script. Every value from the API is rendered as text (textContent, setAttribute), never
// parsed as HTML: titles and teams are whatever people typed. Served from /static under a CSP without
// inline script.
"use strict";
const SVG = "http://www.w3.org/2000/svg";

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

function bars(target, items, opts) {
  const box = document.getElementById(target);
  if (!items.length) { empty(box, "no data yet"); return; }
  const w = 440, row = 22, left = 170, h = items.length * row + 10;
  const max = Math.max(...items.map(i => Math.max(i.value, i.value2 || 0)), 1);
  const chart = svg("svg", {width: w, height: h, role: "img", class: "chart"});
  let cumulative = 0;
  const total = items.reduce((a, i) => a + i.value, 0) || 1;
  items.forEach((item, n) => {
    const y = n * row + 4, bw = (w - left - 60) * item.value / max;
    chart.appendChild(svg("text", {x: 0, y: y + 13}, item.label));
    chart.appendChild(svg("rect", {x: left, y, width: Math.max(bw, 1), height: 14, fill: opts.color, class: "bar"}));
    if (item.value2 !== undefined) {
      const bw2 = (w - left - 60) * item.value2 / max;
      chart.appendChild(svg("rect", {x: left, y: y + 10, width: Math.max(bw2, 1), height: 4, fill: "#9aa5b1"}));
    }
    cumulative += item.value;
    const label = opts.pareto ? `${item.text} · ${Math.round(100 * cumulative / total)}%` : item.text;
    chart.appendChild(svg("text", {x: left + bw + 4, y: y + 12}, label));
  });
  box.replaceChildren(chart);
}

const pct = v => v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`;

async function get(name) {
  const params = new URLSearchParams(window.location.search);
  params.delete("token");
  const r = await fetch(`/v1/reports/${name}?${params}`, {credentials: "same-origin"});
  if (!r.ok) throw new Error(`${name}: ${r.status}`);
  return r.json();
}

function stalledTable(rows) {
  const box = document.getElementById("stalled");
  if (!rows.length) { empty(box, "nothing is stalled"); return; }
  const head = html("tr", {}, ...["initiative", "team", "stage", "reason", "stalled", "who must act"].map(t => html("th", {}, t)));
  const body = rows.map(r => html("tr", {},
    html("td", {}, r.title), html("td", {}, r.team), html("td", {}, r.stage), html("td", {}, r.reason_code),
    html("td", {}, `${Math.round(r.stalled_seconds / 86400)} d`), html("td", {}, (r.awaiting_roles || []).join(", "))));
  box.replaceChildren(html("table", {id: "stalled-table"}, head, ...body));
}

async function main() {
  const [funnel, stalls, scraps, time, cost, now] = await Promise.all(
    ["funnel", "stall-reasons", "scrap-reasons", "time-in-stage", "sunk-cost", "stalled-now"].map(get));
  document.getElementById("sub").textContent = `${funnel.total} initiatives · base rates in brackets`;
  const base = funnel.base_rates || {};
  document.getElementById("kpis").replaceChildren(...[
    ["reached production", funnel.reached_production, ""],
    ["abandoned in PoC", pct(funnel.poc_abandonment_rate), `(${pct(base.poc_abandonment_rate)})`],
    ["scrapped after PoC", pct(funnel.post_poc_scrap_rate), `(${pct(base.post_poc_scrap_rate)})`],
    ["pilot → production", pct(funnel.pilot_to_production_rate), `(${pct(base.pilot_to_production_rate)})`],
  ].map(([l, v, b]) => html("div", {class: "kpi"}, html("b", {}, v), html("span", {}, `${l} ${b}`))));
  bars("funnel", funnel.stages.map(s => ({label: s.stage, value: s.reached, text: `${s.reached}`})), {color: "#2f80ed"});
  bars("stalls", stalls.rows.map(r => ({label: `${r.code}`, value: r.stalls, text: `${r.stalls}`}))
       .sort((a, b) => b.value - a.value), {color: "#f2994a", pareto: true});
  const scrapRows = {};
  for (const r of scraps.rows) scrapRows[r.code] = (scrapRows[r.code] || 0) + r.initiatives;
  bars("scraps", Object.entries(scrapRows).map(([k, v]) => ({label: k, value: v, text: `${v}`}))
       .sort((a, b) => b.value - a.value), {color: "#eb5757", pareto: true});
  const days = s => ((s || 0) / 86400).toFixed(1);
  bars("time", time.rows.map(r => ({label: r.stage, value: (r.p50_seconds || 0) / 86400,
       value2: (r.p90_seconds || 0) / 86400, text: `${days(r.p50_seconds)} / ${days(r.p90_seconds)}`})),
       {color: "#27ae60"});
  bars("cost", cost.rows.map(r => ({label: `${r.code} (${r.stage})`, value: r.total_usd,
       text: `$${Math.round(r.total_usd).toLocaleString()}`})).sort((a, b) => b.value - a.value), {color: "#9b51e0"});
  stalledTable(now.rows);
  document.body.setAttribute("data-ready", "true");
}

main().catch(e => {
  document.getElementById("sub").replaceChildren(html("span", {class: "err"}, String(e)));
  document.body.setAttribute("data-ready", "error");
});
