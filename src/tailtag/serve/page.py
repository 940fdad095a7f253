"""GET /: one self-contained page (inline CSS and JS, no request leaves the service) to try a run by hand.

A person drops or picks images; each is posted to /v1/tags and shown as a thumbnail, its tags (the labels
the run's thresholds chose) and a probability bar per label, sorted by probability, with the label's
threshold marked. Everything the server returns is inserted as text, never as HTML, so a label name cannot
inject markup. Stable hooks for tests and scripts: #file-input, #drop-zone, #results (data-state idle /
busy / done / error), #error, .result, .tag, .prob-bar[data-label][data-prob].
"""

from __future__ import annotations

import json

from tailtag.serve.limits import Limits

#: The page only talks to its own origin; images are shown from local blob: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def render_page(run: str, limits: Limits) -> str:
    """The page's HTML for the run named `run`; the limits let it refuse oversized files before sending."""
    config = {"run": run, "maxImages": limits.max_images, "maxBytes": limits.max_request_bytes}
    # "<" escaped so no value can close the <script> element it sits in.
    embedded = json.dumps(config).replace("<", "\\u003c")
    return _PAGE.replace("__CONFIG__", embedded).replace("__TITLE__", _html_text(f"tailtag: {run}"))


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<link rel="icon" href="data:,">
<style>
  :root { --accent: #2563eb; --muted: #6b7280; --line: #e5e7eb; --chosen: #dbeafe; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1.5rem; color: #111827; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  .sub { color: var(--muted); margin: 0 0 1rem; }
  #drop-zone { border: 2px dashed #9ca3af; border-radius: .8rem; padding: 2rem; text-align: center;
    cursor: pointer; transition: background .15s; }
  #drop-zone.over { background: #eff6ff; border-color: var(--accent); }
  #drop-zone label { color: var(--accent); text-decoration: underline; cursor: pointer; }
  #file-input { position: absolute; left: -9999px; }
  #error { display: none; margin: 1rem 0; padding: .8rem 1rem; border-radius: .5rem; background: #fef2f2;
    color: #991b1b; white-space: pre-line; }
  #status { color: var(--muted); min-height: 1.4em; margin: .6rem 0; }
  .result { display: grid; grid-template-columns: 12rem 1fr; gap: 1.2rem; padding: 1rem 0;
    border-top: 1px solid var(--line); }
  .result img { width: 12rem; border-radius: .4rem; object-fit: contain; background: #f3f4f6; }
  .name { color: var(--muted); font-size: .85rem; word-break: break-all; }
  .tags { margin: .3rem 0 .8rem; min-height: 1.8rem; }
  .tag { display: inline-block; background: var(--accent); color: white; border-radius: 999px;
    padding: .1rem .7rem; margin: 0 .3rem .3rem 0; font-weight: 600; }
  .none { color: var(--muted); font-style: italic; }
  .prob-row { display: grid; grid-template-columns: minmax(6rem, 12rem) 1fr 3.5rem; gap: .6rem;
    align-items: center; padding: .1rem .3rem; border-radius: .3rem; }
  .prob-row.chosen { background: var(--chosen); font-weight: 600; }
  .prob-bar { position: relative; height: .7rem; background: #f3f4f6; border-radius: .35rem; }
  .prob-fill { height: 100%; background: #93c5fd; border-radius: .35rem; }
  .chosen .prob-fill { background: var(--accent); }
  .threshold { position: absolute; top: -.2rem; bottom: -.2rem; width: 2px; background: #111827; opacity: .55; }
  .value { text-align: right; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<h1 id="title"></h1>
<p class="sub">Drop images to see the tags this run gives them. Images stay on this machine: they go to this
service only, and nothing is stored.</p>
<div id="drop-zone" tabindex="0">
  Drop images here, or <label for="file-input">choose files</label>
  <input id="file-input" type="file" accept="image/*" multiple>
</div>
<div id="status" aria-live="polite"></div>
<div id="error" role="alert"></div>
<div id="results" data-state="idle"></div>
<script id="config" type="application/json">__CONFIG__</script>
<script>
"use strict";
const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const results = $("results"), errorBox = $("error"), statusBox = $("status");
let thresholds = {};
$("title").textContent = "tailtag \\u2014 " + config.run;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(message, fix) {
  errorBox.textContent = fix ? message + "\\n" + fix : message;
  errorBox.style.display = "block";
  results.dataset.state = "error";
}

function probRow(label, p, chosen) {
  const row = el("div", "prob-row" + (chosen ? " chosen" : ""));
  const bar = el("div", "prob-bar");
  bar.dataset.label = label;
  bar.dataset.prob = String(p);
  const fill = el("div", "prob-fill");
  fill.style.width = (100 * Math.min(1, Math.max(0, p))).toFixed(1) + "%";
  bar.appendChild(fill);
  if (label in thresholds) {
    const mark = el("div", "threshold");
    mark.style.left = (100 * Math.min(1, thresholds[label])).toFixed(1) + "%";
    mark.title = "threshold " + thresholds[label].toFixed(3);
    bar.appendChild(mark);
  }
  row.append(el("span", "label", label), bar, el("span", "value", p.toFixed(3)));
  return row;
}

function renderResult(file, result) {
  const card = el("div", "result");
  const img = el("img");
  img.alt = file.name;
  img.src = URL.createObjectURL(file);
  const body = el("div");
  body.appendChild(el("div", "name", file.name));
  const tags = el("div", "tags");
  if (result.tags.length === 0) tags.appendChild(el("span", "none", "no tag above its threshold"));
  for (const tag of result.tags) tags.appendChild(el("span", "tag", tag));
  body.appendChild(tags);
  const chosen = new Set(result.tags);
  const ranked = Object.entries(result.probabilities).sort((a, b) => b[1] - a[1]);
  for (const [label, p] of ranked) body.appendChild(probRow(label, p, chosen.has(label)));
  card.append(img, body);
  return card;
}

async function upload(files) {
  errorBox.style.display = "none";
  files = Array.from(files).slice(0, config.maxImages);
  if (files.length === 0) return;
  const size = files.reduce((total, f) => total + f.size, 0);
  if (size > config.maxBytes) {
    showError("These files hold " + (size / 1048576).toFixed(1) + " MiB; the service takes at most " +
      (config.maxBytes / 1048576).toFixed(1) + " MiB per request.", "Choose fewer or smaller images.");
    return;
  }
  const form = new FormData();
  for (const f of files) form.append("images", f, f.name);
  results.dataset.state = "busy";
  statusBox.textContent = "Tagging " + files.length + " image" + (files.length > 1 ? "s" : "") + "\\u2026";
  const start = performance.now();
  try {
    const response = await fetch("/v1/tags", {method: "POST", body: form});
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      const problem = (answer && answer.error) || {message: "The service answered " + response.status + "."};
      statusBox.textContent = "";
      showError(problem.message, problem.fix);
      return;
    }
    results.replaceChildren(...answer.results.map((r, i) => renderResult(files[i], r)));
    statusBox.textContent = "Tagged in " + Math.round(performance.now() - start) + " ms.";
    results.dataset.state = "done";
  } catch (err) {
    statusBox.textContent = "";
    showError("Could not reach the service (" + err.message + ").", "Check that tailtag serve is still running.");
  }
}

fetch("/v1/labels").then((r) => r.json()).then((info) => { thresholds = info.thresholds || {}; })
  .catch(() => {});
const zone = $("drop-zone"), input = $("file-input");
input.addEventListener("change", () => { upload(input.files); input.value = ""; });
zone.addEventListener("click", (e) => { if (e.target === zone) input.click(); });
zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over");
  upload(e.dataTransfer.files); });
</script>
</body>
</html>
"""
