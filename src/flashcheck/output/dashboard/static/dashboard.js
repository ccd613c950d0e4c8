// flashcheck line dashboard: polls /api/summary and redraws, no reload.
// Everything from the database is put in the page as text (textContent),
// never as markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
let pollMs = 2000;
let timer = null;
let seen = null;  // uuids... of the rows shown last time (to flash new ones)

function $(id) { return document.getElementById(id); }

function pct(x) { return x === null || x === undefined ? "\u2013" : (100 * x).toFixed(1) + "%"; }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = String(text);
  return e;
}

// A table from column specs [{head, key|get, num, cls}] and rows.
function fillTable(table, cols, rows, empty) {
  table.replaceChildren();
  const head = el("tr");
  for (const c of cols) head.appendChild(el("th", c.head, c.num ? "num" : ""));
  table.appendChild(el("thead")).appendChild(head);
  const body = table.appendChild(el("tbody"));
  if (!rows.length) {
    const td = el("td", empty, "muted");
    td.colSpan = cols.length;
    body.appendChild(el("tr")).appendChild(td);
    return body;
  }
  for (const r of rows) {
    const tr = body.appendChild(el("tr"));
    for (const c of cols) {
      let v = c.get ? c.get(r) : r[c.key];
      if (typeof v === "string") v = v.replace(/[/?&]/g, "$&\u200b");  // line breaks allowed after / ? &
      const cls = [c.num ? "num" : "", c.cls ? c.cls(r) : ""].join(" ").trim();
      const td = tr.appendChild(el("td", v, cls));
      if (c.key) td.dataset.field = c.key;
    }
  }
  return body;
}

function yieldClass(y) { return y === null ? "" : y >= 0.98 ? "good" : y >= 0.9 ? "warn" : "bad"; }

function setTile(id, text, cls) {
  const e = $(id);
  e.textContent = text;
  e.className = "value " + (cls || "");
}

function drawYield(box, over) {
  box.replaceChildren();
  const pts = over.points;
  const W = 600, H = 220, L = 36, R = 8, T = 10, B = 36;
  const svg = svgEl("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "yield over time"});
  for (const y of [0, 50, 100]) {
    const yy = T + (H - T - B) * (1 - y / 100);
    svg.appendChild(svgEl("line", {x1: L, x2: W - R, y1: yy, y2: yy, stroke: "#d0d7de"}));
    svg.appendChild(svgEl("text", {x: L - 4, y: yy + 4, "text-anchor": "end"}, y + "%"));
  }
  if (!pts.length) {
    svg.appendChild(svgEl("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "no boards in this period"));
    box.appendChild(svg);
    return;
  }
  const bw = (W - L - R) / pts.length;
  pts.forEach((p, i) => {
    const h = (H - T - B) * (p.yield || 0);
    const x = L + i * bw + bw * 0.1;
    const bar = svgEl("rect", {x, y: T + (H - T - B) - h, width: bw * 0.8, height: Math.max(h, 0.5),
                               fill: p.yield >= 0.98 ? "#1a7f37" : p.yield >= 0.9 ? "#bf8700" : "#cf222e"});
    bar.appendChild(svgEl("title", {}, `${p.start}: ${p.passed}/${p.boards} passed (${pct(p.yield)})`));
    svg.appendChild(bar);
    svg.appendChild(svgEl("text", {x: x + bw * 0.4, y: T + (H - T - B) - h - 3, "text-anchor": "middle"}, p.boards));
    if (pts.length <= 12 || i % Math.ceil(pts.length / 12) === 0) {
      const label = p.start.slice(over.bucket_s >= 86400 ? 5 : 11, over.bucket_s >= 86400 ? 10 : 16);
      svg.appendChild(svgEl("text", {x: x + bw * 0.4, y: H - B + 14, "text-anchor": "middle"}, label));
    }
  });
  box.appendChild(svg);
}

function drawPareto(box, pareto) {
  box.replaceChildren();
  const W = 600, H = 220, L = 36, R = 36, T = 10, B = 60;
  const svg = svgEl("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "failures by cause"});
  const items = pareto.slice(0, 10);
  if (!items.length) {
    svg.appendChild(svgEl("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "no failures in this period"));
    box.appendChild(svg);
    return;
  }
  const max = Math.max(...items.map(p => p.boards));
  const bw = (W - L - R) / items.length, ph = H - T - B;
  const line = [];
  items.forEach((p, i) => {
    const h = ph * p.boards / max, x = L + i * bw + bw * 0.15;
    const bar = svgEl("rect", {x, y: T + ph - h, width: bw * 0.7, height: h, fill: "#cf222e"});
    bar.appendChild(svgEl("title", {}, `${p.cause}: ${p.boards} board(s), ${p.percent}%`));
    svg.appendChild(bar);
    svg.appendChild(svgEl("text", {x: x + bw * 0.35, y: T + ph - h - 3, "text-anchor": "middle"}, p.boards));
    const name = p.cause.length > 18 ? p.cause.slice(0, 17) + "\u2026" : p.cause;
    svg.appendChild(svgEl("text", {x: x + bw * 0.35, y: T + ph + 12, "text-anchor": "end",
                                   transform: `rotate(-30 ${x + bw * 0.35} ${T + ph + 12})`}, name));
    line.push(`${x + bw * 0.35},${T + ph * (1 - p.cumulative_percent / 100)}`);
  });
  svg.appendChild(svgEl("polyline", {points: line.join(" "), fill: "none", stroke: "#1f2328", "stroke-width": 1.5}));
  svg.appendChild(svgEl("text", {x: W - R + 4, y: T + 8}, "100%"));
  box.appendChild(svg);
}

function render(d) {
  const s = d.summary;
  $("database").textContent = "database " + d.database;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString() + " (data to " + (s.last || "\u2013") + ")";
  setTile("yield", pct(s.yield), yieldClass(s.yield));
  $("yield-sub").textContent = `${s.passed} of ${s.boards} passed`;
  setTile("yield-now", pct(d.now.yield), yieldClass(d.now.yield));
  $("yield-now-sub").textContent = `${d.now.passed} of ${d.now.boards} passed`;
  setTile("boards", s.boards);
  $("verdicts").textContent = Object.entries(s.by_verdict).map(([k, v]) => `${v} ${k}`).join(", ") || "none yet";
  setTile("not-passed", s.not_passed, s.not_passed ? "bad" : "good");
  const b = d.over_time.bucket_s;
  $("bucket").textContent = b ? `(per ${b >= 86400 ? "day" : b >= 3600 ? "hour" : b / 60 + " minutes"}, UTC; labels: boards)` : "";
  drawYield($("chart-yield"), d.over_time);
  drawPareto($("chart-pareto"), s.failures_by_cause);
  const num = (head, key) => ({head, key, num: true});
  const yld = {head: "yield", num: true, get: r => pct(r.yield), cls: r => yieldClass(r.yield)};
  fillTable($("pareto"), [{head: "cause", key: "cause"}, num("boards", "boards"),
    {head: "share", num: true, get: r => r.percent + "%"}, {head: "cumulative", num: true, get: r => r.cumulative_percent + "%"}],
    s.failures_by_cause, "no failures");
  fillTable($("per-part"), [{head: "part", key: "part"}, num("boards", "boards"), num("passed", "passed"), yld],
    s.per_part, "no boards");
  fillTable($("per-station"), [{head: "station", key: "station"}, num("boards", "boards"), num("passed", "passed"), yld],
    d.per_station, "no boards");
  fillTable($("per-fixture"), [{head: "station", key: "station"}, {head: "fixture", key: "fixture"},
    num("boards", "boards"), num("passed", "passed"), yld], s.per_fixture, "no boards");
  const body = fillTable($("latest"), [{head: "time (UTC)", get: r => r.time.replace("T", " ").replace("Z", "")},
    {head: "verdict", key: "verdict", cls: r => "verdict " + r.verdict}, {head: "serial", key: "serial"},
    {head: "part", key: "part"}, {head: "station", key: "station"}, {head: "fixture", key: "fixture"},
    {head: "reason", key: "reason"}], d.latest, "no boards yet");
  const now = new Set();
  d.latest.forEach((r, i) => {
    const key = r.time + "|" + r.station + "|" + r.fixture + "|" + r.serial;
    now.add(key);
    if (seen && !seen.has(key) && body.rows[i]) body.rows[i].classList.add("fresh");
  });
  seen = now;
  document.body.dataset.boards = String(s.boards);  // for tests and kiosk scripts
}

async function poll() {
  clearTimeout(timer);
  const since = $("since").value;
  try {
    const res = await fetch(`/api/summary?since=${encodeURIComponent(since)}&last=25`, {cache: "no-store"});
    const d = await res.json();
    if (!res.ok) throw new Error(d.error || res.statusText);
    if (d.poll_s) pollMs = d.poll_s * 1000;
    $("error").hidden = true;
    render(d);
  } catch (e) {
    const err = $("error");
    err.textContent = "cannot update: " + e.message + " (figures below are from the last successful update)";
    err.hidden = false;
  }
  timer = setTimeout(poll, pollMs);
}

document.addEventListener("DOMContentLoaded", () => {
  $("since").addEventListener("change", () => { seen = null; poll(); });
  poll();
});
