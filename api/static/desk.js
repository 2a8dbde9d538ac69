// The approver's desk. Every value from the API is rendered as text (textContent, setAttribute), never
// parsed as HTML: titles and teams are whatever people typed. Served from /static under a CSP without
// inline script; the page's cookie authenticates only its reads and the approval-token mint.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const child of children) e.append(child instanceof Node ? child : String(child));
  return e;
}

const NEEDED = {
  approve: "your decision",
  submit_poc_results: "the team's PoC results",
  resolve_findings: "the team to resolve blocking findings",
  clear_blocker: "the team to clear its blocker",
};

function due(iso) {
  if (!iso) return "—";
  const ms = new Date(iso).getTime() - Date.now();
  const abs = Math.abs(ms), d = Math.floor(abs / 86400000), h = Math.floor(abs % 86400000 / 3600000);
  const m = Math.floor(abs % 3600000 / 60000);
  const span = d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m`;
  return ms >= 0 ? `in ${span}` : `overdue ${span}`;
}

async function mint(item, role) {
  const box = document.getElementById("payload");
  const behalf = item.on_behalf_of ? ` for ${item.on_behalf_of}` : "";
  document.getElementById("payload-title").textContent = `${item.title} — approve as ${role}${behalf}`;
  document.getElementById("payload-json").textContent = "signing…";
  document.getElementById("copied").textContent = "";
  box.hidden = false;
  const answer = await fetch(`/v1/initiatives/${encodeURIComponent(item.id)}/approval-token`, {
    method: "POST",
    credentials: "same-origin",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({role: role, action: "approve",
      fields: item.on_behalf_of ? {on_behalf_of: item.on_behalf_of} : {}}),
  });
  const body = await answer.json();
  if (!answer.ok) {
    document.getElementById("payload-json").textContent = typeof body.detail === "string"
      ? body.detail : JSON.stringify(body.detail);
    return;
  }
  document.getElementById("payload-update").textContent = body.action;
  document.getElementById("payload-expiry").textContent = new Date(body.expires_at).toLocaleString();
  document.getElementById("payload-json").textContent = JSON.stringify(body.ui_payload, null, 2);
  box.scrollIntoView({block: "nearest"});
}

function row(item, focus) {
  const link = el("a", {href: item.web_ui_url, target: "_blank", rel: "noopener noreferrer"}, item.title);
  const needed = (NEEDED[item.action] || item.action) + (item.roles.length ? ` as ${item.roles.join(", ")}` : "")
    + (item.on_behalf_of ? ` for ${item.on_behalf_of}` : "");
  const act = el("td");
  for (const role of item.action === "approve" ? item.roles : []) {
    const button = el("button", {type: "button", "data-role": role}, "Get a signed payload");
    button.addEventListener("click", () => mint(item, role).catch(err => {
      document.getElementById("payload-json").textContent = String(err);
    }));
    act.append(button);
  }
  const tr = el("tr", {"data-id": item.id, "data-for": item.on_behalf_of || ""}, el("td", {}, due(item.due_at)), el("td", {}, needed),
    el("td", {}, link), el("td", {}, item.team), el("td", {}, item.stage + (item.stalled ? " (stalled)" : "")), act);
  if (item.id === focus) tr.classList.add("focus");
  return tr;
}

async function load() {
  const sub = document.getElementById("sub");
  const answer = await fetch("/v1/me/queue?limit=500", {credentials: "same-origin"});
  if (!answer.ok) {
    sub.textContent = `cannot read your queue (${answer.status})`;
    sub.classList.add("err");
    return;
  }
  const items = (await answer.json()).items;
  const focus = new URLSearchParams(location.search).get("initiative");
  const body = document.querySelector("#queue tbody");
  body.replaceChildren(...items.map(i => row(i, focus)));
  sub.textContent = items.length
    ? `${items.length} waiting, soonest due first`
    : "nothing waits for you";
  const focused = items.find(i => i.id === focus);
  if (focused) {
    body.querySelector("tr.focus").scrollIntoView({block: "center"});
    // Arrived from a notification's "Get a signed payload" link: one role to decide as, sign it at once.
    if (focused.action === "approve" && focused.roles.length === 1) await mint(focused, focused.roles[0]);
  }
  document.body.setAttribute("data-ready", "true");
}

document.getElementById("copy").addEventListener("click", async () => {
  await navigator.clipboard.writeText(document.getElementById("payload-json").textContent);
  document.getElementById("copied").textContent = "copied";
});

load().catch(err => { document.getElementById("sub").textContent = String(err); });
