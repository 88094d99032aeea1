// LeanECG viewer: plain JavaScript, no build step, no network beyond the serving `leanecg serve`.
// Draws the record's lead as SVG on an ECG grid (25 mm/s, 10 mm/mV), R peaks and beat labels coloured by
// class, the rhythm probabilities, and a zoomable time axis. URL parameters: example=NAME loads a shipped
// example at once, window=SECONDS|all sets the time window, token=T is sent to the API.
"use strict";

const COLOURS = { N: "#2e7d32", S: "#1565c0", V: "#c62828", F: "#ef6c00", Q: "#6a1b9a",
                  A: "#c62828", O: "#ef6c00", "~": "#6a1b9a" };
const OTHER = "#455a64";
const PX_MM = 4;                 // px per mm of ECG paper
const PX_S = 25 * PX_MM;         // 25 mm/s
const PX_MV = 10 * PX_MM;        // 10 mm/mV
const SVGNS = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(window.location.search);
const token = params.get("token");
const state = { data: null, start: 0, window: 10 };

const $ = (id) => document.getElementById(id);
const colour = (label) => COLOURS[label] || OTHER;

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = kind;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  const resp = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) throw new Error((body && body.error) || ("HTTP " + resp.status));
  return body;
}

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function duration() {
  return state.data ? state.data.signal.length / state.data.fs : 0;
}

function windowSeconds() {
  return state.window === "all" ? duration() : Math.min(Number(state.window), duration());
}

function draw() {
  const d = state.data;
  if (!d) return;
  const fs = d.fs;
  const win = Math.max(windowSeconds(), 1 / fs);
  state.start = Math.max(0, Math.min(state.start, duration() - win));
  const i0 = Math.floor(state.start * fs);
  const i1 = Math.min(d.signal.length, Math.ceil((state.start + win) * fs));
  let lo = Infinity, hi = -Infinity;
  for (let i = i0; i < i1; i++) {
    const v = d.signal[i];
    if (v === null) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!isFinite(lo)) { lo = -1; hi = 1; }
  lo = Math.floor(Math.min(lo, -0.5) * 2) / 2 - 0.5;
  hi = Math.ceil(Math.max(hi, 0.5) * 2) / 2 + 0.5;
  // long windows are drawn narrower than paper speed so they fit the page
  const avail = Math.max(600, document.body.clientWidth - 80);
  const pxs = Math.min(PX_S, avail / win);
  const ml = 46, mt = 12, mb = 26;
  const w = win * pxs, h = (hi - lo) * PX_MV;
  const svg = el("svg", { width: ml + w + 10, height: mt + h + mb, "font-size": 11,
                          "data-beats": 0, class: "ecg" });
  const defs = el("defs", {}, svg);
  const minor = el("pattern", { id: "minor", width: pxs * 0.04, height: PX_MM,
                                patternUnits: "userSpaceOnUse", x: ml, y: mt }, defs);
  el("path", { d: `M ${pxs * 0.04} 0 L 0 0 0 ${PX_MM}`, fill: "none", stroke: "#f8c8c8",
               "stroke-width": 0.5 }, minor);
  const major = el("pattern", { id: "major", width: pxs * 0.2, height: 5 * PX_MM,
                                patternUnits: "userSpaceOnUse", x: ml, y: mt }, defs);
  el("rect", { width: pxs * 0.2, height: 5 * PX_MM, fill: "url(#minor)" }, major);
  el("path", { d: `M ${pxs * 0.2} 0 L 0 0 0 ${5 * PX_MM}`, fill: "none", stroke: "#ee9a9a",
               "stroke-width": 1 }, major);
  el("rect", { x: ml, y: mt, width: w, height: h, fill: "#fff7f7" }, svg);
  el("rect", { x: ml, y: mt, width: w, height: h, fill: "url(#major)", stroke: "#ee9a9a",
               class: "grid" }, svg);
  // time ticks: about one label per 80 px
  const steps = [0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
  const tick = steps.find((s) => s * pxs >= 80) || 3600;
  for (let t = Math.ceil(state.start / tick) * tick; t <= state.start + win + 1e-9; t += tick) {
    const x = ml + (t - state.start) * pxs;
    const txt = el("text", { x, y: mt + h + 16, "text-anchor": "middle" }, svg);
    txt.textContent = fmtTime(t);
  }
  for (let v = Math.ceil(lo * 2) / 2; v <= hi + 1e-9; v += 0.5) {
    const txt = el("text", { x: ml - 4, y: mt + (hi - v) * PX_MV + 4, "text-anchor": "end" }, svg);
    txt.textContent = String(Math.round(v * 10) / 10);
  }
  const unit = el("text", { x: 2, y: mt + 10 }, svg);
  unit.textContent = "mV";
  const leadName = el("text", { x: ml + 4, y: mt + 13, "font-weight": "bold" }, svg);
  leadName.textContent = d.lead;
  // trace: min / max per pixel column keeps every spike
  let path = "";
  const perPx = (i1 - i0) / Math.max(w, 1);
  const y = (v) => (mt + (hi - v) * PX_MV).toFixed(1);
  if (perPx <= 2) {
    let pen = false;
    for (let i = i0; i < i1; i++) {
      const v = d.signal[i];
      if (v === null) { pen = false; continue; }
      path += (pen ? "L" : "M") + (ml + (i / fs - state.start) * pxs).toFixed(1) + " " + y(v);
      pen = true;
    }
  } else {
    let pen = false;
    for (let px = 0; px < w; px++) {
      const a = i0 + Math.floor(px * perPx), b = Math.min(i1, i0 + Math.floor((px + 1) * perPx));
      let mn = Infinity, mx = -Infinity;
      for (let i = a; i < b; i++) {
        const v = d.signal[i];
        if (v === null) continue;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      if (!isFinite(mn)) { pen = false; continue; }
      const x = (ml + px).toFixed(1);
      path += (pen ? "L" : "M") + x + " " + y(mn) + "L" + x + " " + y(mx);
      pen = true;
    }
  }
  el("path", { d: path, fill: "none", stroke: "#111", "stroke-width": 1.1, class: "trace" }, svg);
  // beats in the window
  let shown = 0;
  const ratio = fs;  // beats are at the record's own rate, as the signal
  for (const b of d.beats) {
    const t = b.sample / ratio;
    if (t < state.start || t > state.start + win) continue;
    const v = d.signal[b.sample];
    const cy = mt + (hi - Math.min(Math.max(v === null || v === undefined ? 0 : v, lo), hi)) * PX_MV;
    const cx = ml + (t - state.start) * pxs;
    const g = el("g", { class: "beat", "data-label": b.label, "data-sample": b.sample }, svg);
    el("circle", { cx: cx.toFixed(1), cy: cy.toFixed(1), r: 3.2, fill: colour(b.label) }, g);
    if (win <= 60) {
      const below = v !== null && v !== undefined && v < 0;  // a downward beat: its label below it
      const ty = below ? Math.min(mt + h - 2, cy + 15) : Math.max(mt + 10, cy - 7);
      const txt = el("text", { x: cx.toFixed(1), y: ty.toFixed(1),
                               "text-anchor": "middle", "font-weight": "bold", fill: colour(b.label) }, g);
      txt.textContent = b.label;
    }
    const title = el("title", {}, g);
    title.textContent = `${b.label} at ${fmtTime(t)}`;
    shown++;
  }
  svg.setAttribute("data-beats", shown);
  $("plot").replaceChildren(svg);
  const pos = $("position");
  pos.max = Math.max(0, duration() - win);
  pos.value = state.start;
  pos.disabled = duration() <= win;
  $("window-label").textContent = `${fmtTime(state.start)} to ${fmtTime(state.start + win)} of ${fmtTime(duration())}`;
}

function fmtTime(t) {
  if (t < 60) return (Math.round(t * 10) / 10) + " s";
  const m = Math.floor(t / 60), s = Math.round(t - 60 * m);
  return `${m}:${String(s).padStart(2, "0")}`;
}

function show(d) {
  state.data = d;
  state.start = 0;
  $("result").hidden = false;
  const counts = {};
  for (const b of d.beats) counts[b.label] = (counts[b.label] || 0) + 1;
  const classes = d.beat_model ? d.beat_model.classes : Object.keys(counts);
  const beatText = d.beat_model
    ? `${d.beats.length} beats (${classes.map((c) => `${c} ${counts[c] || 0}`).join(", ")}) by ${d.beat_model.name}`
    : "no beat model loaded";
  $("summary").textContent = `${d.record}: ${fmtTime(d.n_samples / d.fs)} at ${d.fs} Hz, lead ${d.lead} — ${beatText}`;
  const rhythm = $("rhythm");
  rhythm.replaceChildren();
  if (d.rhythm) {
    const head = document.createElement("div");
    head.className = "prob";
    head.innerHTML = "";
    head.textContent = `Rhythm (${d.rhythm.model}): ${d.rhythm.label}`;
    rhythm.appendChild(head);
    d.rhythm.classes.forEach((c) => {
      const key = "prob_" + (c === "~" ? "noise" : c);
      const p = d.rhythm.probs[key];
      const box = document.createElement("div");
      box.className = "prob" + (c === d.rhythm.label ? " top" : "");
      box.dataset.class = c;
      box.dataset.prob = p;
      const label = document.createElement("div");
      label.textContent = `${c === "~" ? "noise" : c}: ${(100 * p).toFixed(1)} %`;
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = (100 * p).toFixed(1) + "%";
      fill.style.background = colour(c);
      bar.appendChild(fill);
      box.append(label, bar);
      rhythm.appendChild(box);
    });
  }
  const legend = $("legend");
  legend.replaceChildren();
  for (const c of classes) {
    const item = document.createElement("span");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colour(c);
    item.append(sw, `${c} (${counts[c] || 0})`);
    legend.appendChild(item);
  }
  draw();
  setStatus(`Showing ${d.record}.`, "ready");
}

async function analyse(query, body) {
  setStatus("Analysing…", "busy");
  try {
    const d = await api("analyse" + query, { method: "POST", body });
    show(d);
  } catch (err) {
    setStatus("Error: " + err.message, "error");
  }
}

function zoom(factor) {
  const choices = ["2.5", "5", "10", "30", "60", "all"];
  let i = choices.indexOf(String(state.window));
  if (i < 0) i = 2;
  i = Math.max(0, Math.min(choices.length - 1, i + factor));
  const centre = state.start + windowSeconds() / 2;
  state.window = choices[i];
  $("window").value = choices[i];
  state.start = centre - windowSeconds() / 2;
  draw();
}

async function init() {
  if (params.get("window")) {
    state.window = params.get("window");
    $("window").value = state.window;
  }
  $("window").addEventListener("change", (e) => { state.window = e.target.value; draw(); });
  $("position").addEventListener("input", (e) => { state.start = Number(e.target.value); draw(); });
  $("zoom-in").addEventListener("click", () => zoom(-1));
  $("zoom-out").addEventListener("click", () => zoom(1));
  $("plot").addEventListener("wheel", (e) => {
    if (!state.data) return;
    e.preventDefault();
    if (e.ctrlKey || e.metaKey) zoom(e.deltaY > 0 ? 1 : -1);
    else { state.start += (e.deltaY + e.deltaX) / PX_S; draw(); }
  }, { passive: false });
  $("example-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("example").value;
    if (name) analyse("?example=" + encodeURIComponent(name));
  });
  $("upload-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const files = $("files").files;
    if (!files.length) { setStatus("Choose the record's files first.", "error"); return; }
    const form = new FormData();
    for (const f of files) form.append("file", f, f.name);
    const fs = $("fs").value;
    analyse(fs ? "?fs=" + encodeURIComponent(fs) : "", form);
  });
  try {
    const [examples, models] = await Promise.all([api("examples"), api("models")]);
    const select = $("example");
    for (const ex of examples) {
      const opt = document.createElement("option");
      opt.value = ex.name;
      opt.textContent = ex.name;
      select.appendChild(opt);
    }
    $("models").textContent = "models: " + models.map((m) => `${m.name} (${m.task}, ${m.runtime})`).join(", ");
  } catch (err) {
    setStatus("Error: " + err.message, "error");
    return;
  }
  const example = params.get("example");
  if (example) {
    $("example").value = example;
    await analyse("?example=" + encodeURIComponent(example));
  }
}

init();
