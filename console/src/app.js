// The kri console's behaviour: five parts (KRIs, tenant health, alerts, run
// history, access graph) over the JSON API of `kri serve` under /api/v1. Charts are
// Chart.js, the access graph is Cytoscape.js; everything else is plain DOM.
"use strict";

const state = { tenant: null, part: "kris", charts: [], cy: null };

// ---- the API --------------------------------------------------------------------

/** An API error in the API's own words: `{code, message, hint}`. */
class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.hint = body && body.hint;
  }
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  const key = sessionStorage.getItem("kri-api-key");
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (resp.status === 401) askForKey();
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

const get = (path) => api("GET", path);
const post = (path, body) => api("POST", path, body);
const tenantPath = (rest) => `/tenants/${encodeURIComponent(state.tenant)}${rest}`;

/** Runs the read-only SQL of `kri query` for the current tenant. */
const query = (sql, maxRows = 1000) => post(tenantPath("/query"), { sql, max_rows: maxRows });

/** A SQL string literal. */
const lit = (s) => `'${String(s).replaceAll("'", "''")}'`;

// ---- small DOM helpers ----------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces `el`'s children, skipping null and flattening arrays as `h` does. */
function fill(el, ...children) {
  el.replaceChildren(...children.flat(2).filter((c) => c !== null && c !== undefined && c !== false));
}

const $ = (id) => document.getElementById(id);
const badge = (word) => h("span", { class: `status ${word}` }, word);

function showError(err) {
  const banner = $("banner");
  banner.hidden = false;
  banner.textContent = err instanceof ApiError
    ? `${err.message}${err.hint ? ` (${err.hint})` : ""}`
    : String(err && err.message ? err.message : err);
}

function clearError() { $("banner").hidden = true; }

/** Fills `table` with a header row and one row per item; `onRow` makes rows clickable. */
function fillTable(table, columns, items, onRow) {
  table.replaceChildren(
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.title)))),
    h("tbody", {}, items.length === 0
      ? h("tr", {}, h("td", { colspan: columns.length, class: "hint" }, "nothing yet"))
      : items.map((item) => h("tr", {
        class: onRow ? "clickable" : null,
        onclick: onRow ? () => onRow(item) : null,
      }, columns.map((c) => h("td", { class: c.cls ? c.cls(item) : null }, c.cell(item)))))),
  );
}

/** A JSON value as the console shows it in a cell: objects as compact JSON. */
function cellText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Shows a value of a KRI's or node's details: arrays of objects as tables, the rest as text. */
function renderValue(v) {
  if (Array.isArray(v) && v.length > 0 && v.every((x) => x && typeof x === "object" && !Array.isArray(x))) {
    const cols = [...new Set(v.flatMap((x) => Object.keys(x)))];
    const t = h("table");
    fillTable(t, cols.map((c) => ({ title: c, cell: (x) => cellText(x[c]) })), v);
    return t;
  }
  if (v && typeof v === "object") return h("pre", {}, JSON.stringify(v, null, 2));
  return h("span", {}, cellText(v));
}

function fmtTime(ms) { return ms ? new Date(ms).toISOString().replace(".000Z", "Z") : ""; }

function fmtValue(k) {
  if (k.value === null || k.value === undefined) return "-";
  const v = Number.isInteger(k.value) ? k.value : k.value.toFixed(1);
  return k.unit === "percent" ? `${v}%` : String(v);
}

// ---- the KRI dashboard ----------------------------------------------------------

async function showKris() {
  state.charts.forEach((c) => c.destroy());
  state.charts = [];
  $("kri-detail").hidden = true;
  const [kris, history] = await Promise.all([
    get(tenantPath("/kris")),
    get(tenantPath("/kris/history?limit=5000")),
  ]);
  const grid = $("kri-grid");
  grid.replaceChildren();
  if (kris.length === 0) {
    grid.append(h("p", { class: "hint" }, "No KRIs yet: run the tenant's kris job (Run history, Run now)."));
    return;
  }
  for (const kri of kris) {
    const canvas = h("canvas");
    const card = h("div", { class: "card kri", "data-slug": kri.slug },
      h("h3", {}, kri.name),
      h("div", {}, h("span", { class: "value" }, fmtValue(kri)), " ", badge(kri.status)),
      canvas);
    card.addEventListener("click", () => {
      grid.querySelectorAll(".card").forEach((c) => c.classList.remove("selected"));
      card.classList.add("selected");
      showKriDetail(kri);
    });
    grid.append(card);
    // History comes newest first; the chart reads left to right.
    const points = history.filter((p) => p.slug === kri.slug && p.value !== null)
      .reverse().map((p) => ({ x: p.computed_at_ms, y: p.value }));
    state.charts.push(trendChart(canvas, points, kri));
  }
}

/** A line of the KRI's values with its warn and breach thresholds as dashed lines. */
function trendChart(canvas, points, kri) {
  const xs = points.map((p) => p.x);
  // The thresholds span the values' time range, an hour either side of a lone value.
  const lo = xs.length ? Math.min(...xs) : Date.now();
  const hi = xs.length ? Math.max(...xs) : Date.now();
  const span = hi - lo < 60_000 ? [lo - 3_600_000, hi + 3_600_000] : [lo, hi];
  const threshold = (label, value, color) => ({
    label,
    data: [{ x: span[0], y: value }, { x: span[1], y: value }],
    borderColor: color,
    borderDash: [6, 4],
    borderWidth: 1.5,
    pointRadius: 0,
  });
  const datasets = [{
    label: kri.name,
    data: points,
    borderColor: "#1f2a44",
    backgroundColor: "#1f2a44",
    tension: 0.2,
  }];
  if (kri.warn !== null && kri.warn !== undefined) datasets.push(threshold("warn", kri.warn, "#e08a00"));
  if (kri.breach !== null && kri.breach !== undefined) datasets.push(threshold("breach", kri.breach, "#c62828"));
  return new Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: true,
      plugins: { legend: { display: true, labels: { boxWidth: 12 } } },
      scales: {
        x: {
          type: "linear",
          ticks: { maxTicksLimit: 4, callback: (v) => new Date(v).toISOString().slice(5, 16).replace("T", " ") },
        },
        y: { beginAtZero: true },
      },
    },
  });
}

function showKriDetail(kri) {
  const panel = $("kri-detail");
  panel.hidden = false;
  const facts = [
    ["value", fmtValue(kri)], ["status", kri.status], ["numerator", kri.numerator],
    ["denominator", kri.denominator], ["warn at", kri.warn], ["breach at", kri.breach],
    ["previous value", kri.previous_value], ["change", kri.change],
    ["computed at", kri.computed_at], ["run", kri.run_id], ["why not computed", kri.reason],
  ].filter(([, v]) => v !== null && v !== undefined);
  const details = kri.details && typeof kri.details === "object" ? Object.entries(kri.details) : [];
  // Counts and flags in one table; lists (users, rules, events) each in their own.
  const scalars = details.filter(([, v]) => v === null || typeof v !== "object");
  const lists = details.filter(([, v]) => v !== null && typeof v === "object");
  const row = ([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, cellText(v)));
  fill(panel,
    h("h3", {}, `${kri.name} `, h("code", {}, kri.slug)),
    h("table", {}, h("tbody", {}, facts.map(row))),
    h("h4", {}, "Behind the number"),
    details.length === 0 ? h("p", { class: "hint" }, "no details") : null,
    lists.map(([k, v]) => h("div", { class: "detail" }, h("h5", {}, k), renderValue(v))),
    scalars.length ? h("table", { class: "counts" }, h("tbody", {}, scalars.map(row))) : null,
  );
}

// ---- tenant health --------------------------------------------------------------

/** The samples of one metric from Prometheus text: [{labels, value}]. */
function metricSamples(text, name) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = line.match(/^[^{\s]+(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[1] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

async function showHealth() {
  const [runs, schedules, plugins, metricsText] = await Promise.all([
    get(tenantPath("/runs?limit=500")),
    get("/schedules"),
    get("/plugins"),
    fetch("/metrics", { headers: authHeader() }).then((r) => (r.ok ? r.text() : "")),
  ]);
  const lastPerJob = new Map();
  for (const r of runs) if (!lastPerJob.has(r.job)) lastPerJob.set(r.job, r);
  const failing = [...lastPerJob.values()].filter((r) => r.status === "failed" || r.status === "interrupted");
  // The lag the latest poll of the upstream log recorded (runs come newest first).
  const poll = runs.find((r) => r.stream_lag_ms !== null && r.stream_lag_ms !== undefined);
  const lag = poll ? Math.max(0, poll.stream_lag_ms / 1000) : null;
  const rejected = (plugins.rejected || []).length;
  fill($("health-summary"),
    h("div", { class: "card" }, h("h3", {}, "Jobs"), h("div", { class: "value" }, `${lastPerJob.size - failing.length}/${lastPerJob.size}`), "last runs succeeded"),
    h("div", { class: "card", id: "stream-lag" }, h("h3", {}, "Stream lag"),
      h("div", { class: "value" }, lag === null ? "-" : fmtDuration(lag)),
      lag === null ? "no poll of the upstream log yet" : `at the ${poll.job} run of ${poll.started_at}`),
    h("div", { class: "card" }, h("h3", {}, "Plugins"), h("div", { class: "value" }, String(plugins.connectors.length)),
      rejected ? h("span", { class: "error" }, `${rejected} file(s) rejected at the last scan`) : "none rejected"),
  );
  const due = new Map(schedules.filter((s) => s.tenant_id === state.tenant).map((s) => [s.job, s]));
  const jobs = [...new Set([...lastPerJob.keys(), ...due.keys()])].sort();
  fillTable($("health-jobs"), [
    { title: "job", cell: (j) => j },
    { title: "last run", cell: (j) => (lastPerJob.get(j) ? `#${lastPerJob.get(j).id} ${lastPerJob.get(j).started_at}` : "never") },
    { title: "status", cell: (j) => (lastPerJob.get(j) ? badge(lastPerJob.get(j).status) : "") },
    { title: "requests / 429s", cell: (j) => (lastPerJob.get(j) ? `${lastPerJob.get(j).requests} / ${lastPerJob.get(j).responses_429}` : "") },
    { title: "error", cls: () => "error", cell: (j) => (lastPerJob.get(j) && lastPerJob.get(j).error) || "" },
    { title: "next due", cell: (j) => (due.get(j) ? fmtTime(due.get(j).next_due_ms) : "") },
  ], jobs);
  const requests = metricSamples(metricsText, "kri_upstream_requests_total").filter((s) => s.labels.tenant === state.tenant);
  const limited = metricSamples(metricsText, "kri_upstream_429_total").filter((s) => s.labels.tenant === state.tenant);
  fillTable($("health-buckets"), [
    { title: "bucket", cell: (s) => s.labels.bucket },
    { title: "requests", cell: (s) => s.value },
    { title: "429s", cell: (s) => (limited.find((l) => l.labels.bucket === s.labels.bucket) || { value: 0 }).value },
  ], requests);
}

function fmtDuration(seconds) {
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function authHeader() {
  const key = sessionStorage.getItem("kri-api-key");
  return key ? { authorization: `Bearer ${key}` } : {};
}

// ---- alerts ---------------------------------------------------------------------

async function showAlerts() {
  $("alert-detail").hidden = true;
  const params = new URLSearchParams();
  if ($("alert-severity").value) params.set("severity", $("alert-severity").value);
  if ($("alert-status").value) params.set("status", $("alert-status").value);
  const alerts = await get(tenantPath(`/alerts?${params}`));
  fillTable($("alert-table"), [
    { title: "id", cell: (a) => a.id },
    { title: "severity", cell: (a) => badge(a.severity) },
    { title: "status", cell: (a) => badge(a.status) },
    { title: "title", cell: (a) => a.title },
    { title: "entity", cell: (a) => `${a.entity.kind} ${a.entity.name || a.entity.id}` },
    { title: "last seen", cell: (a) => a.last_seen },
    { title: "", cell: (a) => [
      a.status === "open" ? h("button", { type: "button", class: "ack", onclick: (e) => moveAlert(e, a, "ack") }, "Acknowledge") : null,
      a.status !== "resolved" ? h("button", { type: "button", class: "resolve", onclick: (e) => moveAlert(e, a, "resolve") }, "Resolve") : null,
    ] },
  ], alerts, showAlertDetail);
}

async function moveAlert(event, alert, action) {
  event.stopPropagation();
  await post(`/alerts/${alert.id}/${action}`);
  await showAlerts();
}

async function showAlertDetail(alert) {
  const panel = $("alert-detail");
  panel.hidden = false;
  let events = [];
  if (alert.evidence.length > 0) {
    const ids = alert.evidence.map(lit).join(", ");
    events = (await query(`SELECT uuid, published, event_type, actor, outcome FROM events WHERE uuid IN (${ids}) ORDER BY published`)).rows;
  }
  fill(panel,
    h("h3", {}, `Alert ${alert.id}: ${alert.title}`),
    h("p", {}, badge(alert.severity), " ", badge(alert.status), ` ${alert.detection}, first seen ${alert.first_seen}`),
    h("h4", {}, `Evidence events (${alert.evidence.length})`),
    (() => {
      const t = h("table", { id: "evidence-table" });
      fillTable(t, [
        { title: "published", cell: (e) => fmtTime(e.published) },
        { title: "event type", cell: (e) => e.event_type },
        { title: "actor", cell: (e) => { try { const a = JSON.parse(e.actor); return a.name || a.id; } catch { return cellText(e.actor); } } },
        { title: "outcome", cell: (e) => { try { return (JSON.parse(e.outcome) || {}).result || ""; } catch { return cellText(e.outcome); } } },
        { title: "uuid", cell: (e) => e.uuid },
      ], events);
      return t;
    })(),
    alert.evidence.length > events.length
      ? h("p", { class: "hint" }, `${alert.evidence.length - events.length} evidence event(s) are no longer stored`)
      : null,
    h("h4", {}, "Details"),
    renderValue(alert.details),
  );
}

// ---- run history ----------------------------------------------------------------

async function showRuns() {
  const runs = await get(tenantPath("/runs?limit=200"));
  fillTable($("run-table"), [
    { title: "run", cell: (r) => r.id },
    { title: "job", cell: (r) => r.job },
    { title: "kind", cell: (r) => r.kind },
    { title: "status", cell: (r) => badge(r.status) },
    { title: "started", cell: (r) => r.started_at },
    { title: "seconds", cell: (r) => (r.duration_ms === null ? "" : (r.duration_ms / 1000).toFixed(1)) },
    { title: "requests", cell: (r) => r.requests },
    { title: "429s", cell: (r) => r.responses_429 },
    { title: "written", cell: (r) => r.rows_written },
    { title: "error / note", cls: (r) => (r.error ? "error" : null), cell: (r) => r.error || r.note || "" },
  ], runs);
}

async function fillJobs() {
  const plugins = await get("/plugins");
  const tenant = await get(tenantPath(""));
  const list = plugins.connectors;
  const plugin = list.find((p) => p.name === tenant.connector);
  const jobs = plugin ? plugin.jobs.map((j) => j.name) : ["kris"];
  $("run-job").replaceChildren(...jobs.map((j) => h("option", { selected: j === "kris" }, j)));
}

async function runNow() {
  const run = await post(tenantPath("/runs"), { job: $("run-job").value });
  clearError();
  $("banner").hidden = false;
  $("banner").textContent = `run ${run.id} (${run.job}) started`;
  await showRuns();
}

// ---- the access-graph explorer --------------------------------------------------

const SEED_QUERIES = [
  ["Okta nodes", `SELECT * FROM nodes WHERE labels @> '{"teleport.dev/origin": "okta"}'`],
  ["Nodes of one org", `SELECT * FROM nodes WHERE labels @> '{"okta/org": "https://your-org.okta.com"}'`],
  ["What a user reaches", `SELECT * FROM access_path WHERE identity = 'user' AND kind = 'ALLOWED'`],
  ["Who reaches an app", `SELECT * FROM access_path WHERE resource = 'app-name' AND resource_labels @> '{"teleport.dev/origin": "okta"}'`],
  ["Who reaches a group", `SELECT * FROM access_path WHERE resource = 'group-name' AND resource_labels @> '{"teleport.dev/origin": "okta"}'`],
  ["Standing privileges", `SELECT * FROM access_path WHERE standing_privileges >= 1 AND resource_labels @> '{"teleport.dev/origin": "okta"}'`],
  ["Admin roles, direct or through a group", `SELECT identity, action AS role, identity_group AS via_group, resource_group, resource FROM access_path WHERE action_type = 'admin_role'`],
];

const KIND_COLOURS = {
  user: "#1f77b4", group: "#2ca02c", app: "#9467bd", admin_role: "#d62728",
  org: "#8c564b", resource_set: "#e377c2", api_token: "#ff7f0e",
};

async function searchNodes(event) {
  if (event) event.preventDefault();
  const text = $("node-search").value.trim();
  const like = lit(`%${text.toLowerCase()}%`);
  const result = await query(
    `SELECT id, kind, name FROM nodes WHERE kind IN ('user', 'group', 'app', 'api_token') AND lower(name) LIKE ${like} ORDER BY kind, name LIMIT 50`,
  );
  $("node-results").replaceChildren(...(result.rows.length === 0
    ? [h("li", { class: "hint" }, "no user, group or app by that name")]
    : result.rows.map((n) => h("li", {
      "data-id": n.id,
      onclick: (e) => {
        $("node-results").querySelectorAll("li").forEach((li) => li.classList.remove("selected"));
        e.currentTarget.classList.add("selected");
        showNode(n.id);
      },
    }, h("span", { class: "kind" }, n.kind), n.name))));
}

async function showNode(id) {
  const [node, degree] = await Promise.all([
    query(`SELECT id, kind, sub_kind, name, labels, properties, first_seen, last_seen FROM nodes WHERE id = ${lit(id)}`),
    query(`SELECT kind, count(*) AS n FROM edges WHERE from_id = ${lit(id)} OR to_id = ${lit(id)} GROUP BY kind ORDER BY kind`),
  ]);
  const n = node.rows[0];
  const panel = $("node-detail");
  if (!n) { panel.textContent = `node ${id} is no longer stored`; return; }
  const parse = (s) => { try { return JSON.parse(s); } catch { return s; } };
  fill(panel,
    h("h3", {}, h("span", { class: "kind" }, n.kind), n.name),
    h("table", {}, h("tbody", {},
      [["id", n.id], ["type", n.sub_kind], ["first seen", fmtTime(n.first_seen)], ["last seen", fmtTime(n.last_seen)]]
        .map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))),
      degree.rows.map((d) => h("tr", {}, h("th", {}, `${d.kind} edges`), h("td", {}, d.n))))),
    ["user", "api_token"].includes(n.kind)
      ? h("button", { id: "view-access", type: "button", onclick: () => viewAccess(n) }, "View access")
      : h("button", { id: "view-access", type: "button", onclick: () => viewReachers(n) }, "Who has access"),
    h("h4", {}, "Properties"), renderValue(parse(n.properties)),
    h("h4", {}, "Labels"), renderValue(parse(n.labels)),
  );
}

/** Draws every access path from an identity: identity -> (group, role) -> resource. */
async function viewAccess(node) {
  const paths = await query(`SELECT path, action, action_type, resource FROM access_path WHERE identity_id = ${lit(node.id)}`, 5000);
  await drawPaths(paths.rows, node.id);
}

/** Draws every access path that ends at a group or app. */
async function viewReachers(node) {
  const paths = await query(`SELECT path, action, action_type, resource FROM access_path WHERE resource_id = ${lit(node.id)}`, 5000);
  await drawPaths(paths.rows, node.id);
}

async function drawPaths(rows, rootId) {
  const edges = new Map();
  const ids = new Set([rootId]);
  for (const row of rows) {
    let path;
    try { path = JSON.parse(row.path); } catch { continue; }
    path.forEach((id) => ids.add(id));
    for (let i = 0; i + 1 < path.length; i++) {
      const key = `${path[i]}>${path[i + 1]}`;
      const last = i + 2 === path.length;
      if (!edges.has(key) || last) edges.set(key, { source: path[i], target: path[i + 1], label: last ? row.action : "" });
    }
  }
  const names = new Map();
  if (ids.size > 0) {
    const found = await query(`SELECT id, kind, name FROM nodes WHERE id IN (${[...ids].map(lit).join(", ")})`, 5000);
    for (const n of found.rows) names.set(n.id, n);
  }
  const elements = [
    ...[...ids].map((id) => {
      const n = names.get(id) || { kind: "unknown", name: id };
      return { data: { id, label: n.name, kind: n.kind, colour: KIND_COLOURS[n.kind] || "#999" } };
    }),
    ...[...edges.values()].map((e, i) => ({ data: { id: `e${i}`, ...e } })),
  ];
  if (state.cy) state.cy.destroy();
  state.cy = cytoscape({
    container: $("cy"),
    elements,
    style: [
      { selector: "node", style: { "background-color": "data(colour)", label: "data(label)", "font-size": 10, "text-valign": "bottom", "text-wrap": "ellipsis", "text-max-width": 120 } },
      { selector: `node[id = "${rootId.replaceAll('"', "")}"]`, style: { "border-width": 3, "border-color": "#000" } },
      { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", label: "data(label)", "font-size": 8, color: "#555" } },
    ],
    layout: { name: "breadthfirst", directed: true, roots: [rootId], spacingFactor: 1.1 },
  });
  state.cy.on("tap", "node", (e) => showNode(e.target.id()));
  $("cy").dataset.nodes = String(ids.size);
  $("cy").dataset.edges = String(edges.size);
}

async function runSql() {
  const status = $("sql-status");
  status.textContent = "running...";
  try {
    const result = await query($("sql").value, 1000);
    status.textContent = `${result.rows.length} row(s)${result.truncated ? ", cut at 1,000" : ""}`;
    fillTable($("sql-result"), result.columns.map((c) => ({ title: c, cell: (r) => cellText(r[c]) })), result.rows);
  } catch (err) {
    status.textContent = err instanceof ApiError ? `${err.message} (${err.hint})` : String(err);
    $("sql-result").replaceChildren();
  }
}

function setUpGraph() {
  $("sql-examples").replaceChildren(...SEED_QUERIES.map(([name], i) => h("option", { value: i }, name)));
  $("sql-examples").addEventListener("change", () => { $("sql").value = SEED_QUERIES[$("sql-examples").value][1]; });
  $("sql").value = SEED_QUERIES[0][1];
  $("sql-run").addEventListener("click", () => runSql());
  $("node-search-form").addEventListener("submit", (e) => searchNodes(e).catch(showError));
}

// ---- wiring ---------------------------------------------------------------------

const PARTS = { kris: showKris, health: showHealth, alerts: showAlerts, runs: showRuns, graph: async () => {} };

async function show(part) {
  state.part = PARTS[part] ? part : "kris";
  document.querySelectorAll(".part").forEach((s) => s.classList.toggle("shown", s.id === `part-${state.part}`));
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.part === state.part));
  if (!state.tenant) return;
  try {
    clearError();
    await PARTS[state.part]();
    document.body.dataset.loaded = state.part;
  } catch (err) {
    showError(err);
  }
}

function askForKey() {
  const dialog = $("key-dialog");
  if (!dialog.open) dialog.showModal();
}

async function loadTenants() {
  const tenants = await get("/tenants");
  const select = $("tenant");
  const wanted = sessionStorage.getItem("kri-tenant");
  select.replaceChildren(...tenants.map((t) => h("option", { value: t.id, selected: t.id === wanted }, t.id)));
  state.tenant = select.value || null;
  if (!state.tenant) showError("No tenants yet: add one with `kri tenant add` or POST /api/v1/tenants.");
  else await fillJobs();
}

async function start() {
  $("key-dialog").addEventListener("close", async () => {
    const key = $("key-input").value.trim();
    if (key) sessionStorage.setItem("kri-api-key", key);
    await boot();
  });
  $("key-button").addEventListener("click", askForKey);
  $("tenant").addEventListener("change", async () => {
    state.tenant = $("tenant").value;
    sessionStorage.setItem("kri-tenant", state.tenant);
    await fillJobs().catch(showError);
    await show(state.part);
  });
  $("alert-severity").addEventListener("change", () => showAlerts().catch(showError));
  $("alert-status").addEventListener("change", () => showAlerts().catch(showError));
  $("run-now").addEventListener("click", () => runNow().catch(showError));
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  setUpGraph();
  await boot();
}

async function boot() {
  try {
    await loadTenants();
  } catch (err) {
    showError(err);
    return;
  }
  await show(location.hash.slice(1) || "kris");
}

start();
