/**
 * The status page: plain HTML and a little script (served as `/status.js`, so the page's
 * Content-Security-Policy allows no inline script) that polls `/api/status` every second and
 * renders it with `textContent` only, so nothing a webhook sent can become markup.
 *
 * @module
 */

/** The page's HTML. */
export function statusPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hookhost</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .2rem .6rem .2rem 0; border-bottom: 1px solid #eee;
    vertical-align: top; }
  th { font-weight: 600; color: #555; }
  td.num { font-variant-numeric: tabular-nums; }
  .bad { color: #b00020; } .ok { color: #0a7d32; } .muted { color: #777; }
  button { font: inherit; padding: .1rem .6rem; cursor: pointer; }
  code { font-size: 12px; }
</style>
</head>
<body>
<h1>hookhost <span id="session"></span></h1>
<div id="state" class="muted">loading…</div>
<h2>Sessions</h2>
<table id="sessions"><thead><tr><th>Name</th><th>Running</th><th>Inbox by source</th>
<th>Dead letters</th><th>Jobs</th><th>Dead jobs</th></tr></thead><tbody></tbody></table>
<h2>Listeners</h2>
<table id="listeners"><thead><tr><th>Hook</th><th>Address</th><th>In flight</th></tr></thead>
<tbody></tbody></table>
<h2>Last hook runs</h2>
<table id="runs"><thead><tr><th>Time</th><th>Hook</th><th>Status</th><th>Duration</th>
<th>Request id</th><th>Job</th></tr></thead><tbody></tbody></table>
<h2>Dead letters and dead jobs</h2>
<table id="dead"><thead><tr><th>Kind</th><th>Id</th><th>Source / hook</th><th>Attempts</th>
<th>Error</th><th>Content</th><th></th></tr></thead><tbody></tbody></table>
<h2>Schedules</h2>
<table id="schedules"><thead><tr><th>Id</th><th>Next</th><th>Repeats</th><th>Message</th></tr>
</thead><tbody></tbody></table>
<h2>Plugins</h2>
<table id="plugins"><thead><tr><th>Name</th><th>State</th><th>Granted</th><th>Declared</th>
<th>Missing</th><th>Restarts</th><th>RSS</th></tr></thead><tbody></tbody></table>
<script src="/status.js"></script>
</body>
</html>
`;
}

/** The page's script. */
export const STATUS_SCRIPT = `"use strict";
const $ = (id) => document.getElementById(id);
const time = (ms) => new Date(ms).toLocaleTimeString();
function row(cells, attrs) {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(attrs || {})) tr.setAttribute(k, v);
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.append(c); else td.textContent = c === undefined ? "" : String(c);
    tr.append(td);
  }
  return tr;
}
function fill(id, rows, empty) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows);
  if (!rows.length) body.append(row([empty], { class: "muted" }));
}
async function replay(kind, id, button) {
  button.disabled = true;
  const res = await fetch("/api/replay", {
    method: "POST",
    headers: { "content-type": "application/json", "x-hookhost-admin": "1" },
    body: JSON.stringify({ kind, ids: [id] }),
  });
  button.textContent = res.ok ? "replayed" : "failed";
  refresh();
}
function render(s) {
  $("session").textContent = "— session " + s.session + " (pid " + s.pid + ")";
  const state = $("state");
  state.className = s.not_ready.length ? "bad" : "ok";
  state.textContent = s.not_ready.length ? "not ready: " + s.not_ready.join("; ") : "ready";
  fill("sessions", s.sessions.map((r) => row([
    r.name, r.running ? "yes" : "no",
    Object.entries(r.pending).map(([k, n]) => k + " " + n).join(", "),
    r.dead, r.jobs, r.dead_jobs,
  ], { "data-session": r.name })), "none");
  fill("listeners", s.listeners.map((l) => row([l.hook, l.addr, l.in_flight])), "none");
  fill("runs", s.runs.map((r) => row([
    time(r.ts), r.hook, r.status + (r.reason ? " (" + r.reason + ")" : ""), r.duration_ms + " ms",
    r.request_id, r.job,
  ], { "data-request-id": r.request_id || "", class: r.status >= 500 ? "bad" : "" })), "none yet");
  fill("dead", s.dead.map((d) => {
    const b = document.createElement("button");
    b.textContent = "replay";
    b.addEventListener("click", () => replay(d.kind, d.id, b));
    return row([d.kind, d.id, d.where, d.attempts, d.error, d.preview, b], { "data-dead": d.id });
  }), "none");
  fill("schedules", s.schedules.map((c) => row([
    c.id, new Date(c.next).toLocaleString(), c.every || c.cron || "once", c.message,
  ])), "none");
  fill("plugins", s.plugins.map((p) => row([
    p.name, p.state, p.permissions, p.declared, p.missing, p.restarts,
    p.rss ? Math.round(p.rss / 1048576) + " MiB" : "",
  ])), "none");
}
async function refresh() {
  try {
    const res = await fetch("/api/status", { cache: "no-store" });
    if (!res.ok) throw new Error(res.status + " " + (await res.text()));
    render(await res.json());
  } catch (e) {
    $("state").className = "bad";
    $("state").textContent = "cannot reach the daemon: " + e.message;
  }
}
refresh();
setInterval(refresh, 1000);
`;
