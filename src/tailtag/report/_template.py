"""The report page: one HTML file with inline CSS, a small inline script and images as data URIs.

Kept as Python strings so the package needs no package-data entry. Rendered by jinja2 with autoescape on:
every value from the summary or the data (label names, paths, the command, the config) is escaped; only
`STYLE` and `SCRIPT` below, both constants, are inserted raw. The page's Content-Security-Policy allows no
network access at all and runs only the one script whose hash it names, so even a mis-escaped string could
neither load anything nor execute.
"""

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f0f0f3}td.name,th.name{text-align:left;max-width:340px;overflow:hidden;text-overflow:ellipsis}
table.meta td,table.meta th{text-align:left;white-space:normal}
td.lose{background:#fde2e1}.na{color:#888}
pre{background:#f4f4f6;border:1px solid #ddd;padding:8px;overflow:auto;white-space:pre-wrap;word-break:break-all}
.warnings{background:#fdecea;border:2px solid #d32f2f;color:#7f1010;padding:8px 16px;margin:12px 0;border-radius:4px}
.warnings h2{border:0;margin:4px 0;color:#b71c1c}
.note{background:#eef4fb;border-left:4px solid #5b8fd0;padding:4px 10px;margin:6px 0}
.error{background:#fdecea;border-left:4px solid #d32f2f;padding:4px 10px}
.foot{font-size:12px;color:#555}nav a{margin-right:12px}
.scroll{max-height:70vh;overflow:auto;border:1px solid #ddd;display:inline-block;max-width:100%}
.scroll thead th{position:sticky;top:0;z-index:1}
table.paged th.sort{cursor:pointer;user-select:none}
table.paged th[aria-sort=ascending]::after{content:" \\25B2"}
table.paged th[aria-sort=descending]::after{content:" \\25BC"}
img.plot{max-width:100%;height:auto;display:block;margin:6px 0;background:#fff}
.gallery{display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start}
.thumb{margin:0;width:100px;font-size:11px;text-align:center}
.thumb img{max-width:96px;max-height:96px;display:block;margin:0 auto}
.thumb .missing{width:96px;height:72px;margin:0 auto;background:#eee;border:1px dashed #999;color:#666;
display:flex;align-items:center;justify-content:center}
.pager:not([hidden]){display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:6px 0}
.pager input{min-width:220px}
.kind{width:120px;font-weight:600;font-size:12px}.row{display:flex;gap:8px;margin:4px 0}
"""

# The paged tables: each `table.paged` has its rows as JSON in `<script type="application/json" id="ID-data">`
# ({"rows": [[cell, ...]], "order": default row order, "page": rows per page, "label": text-filter column,
# "group": group-filter column or -1}). Only one page of rows is in the DOM; a sort, a filter or a page step
# rebuilds that page from the data (one Array.sort of the row indices: a few ms for 7,000 rows). Cells are
# written with textContent, never parsed as HTML. Missing values (null) sort last both ways; ties keep the
# default order.
SCRIPT = """(function () {
"use strict";
function thousands(value) {
  return (value < 0 ? "-" : "") + String(Math.abs(value)).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ",");
}
function show(value, kind) {
  if (value === null) { return "n/a"; }
  if (kind === "int") { return thousands(value); }
  if (kind === "float") { return value.toFixed(4); }
  return String(value);
}
function pagedTable(table) {
  var id = table.id, spec = JSON.parse(document.getElementById(id + "-data").textContent);
  var rows = spec.rows, heads = table.tHead.rows[0].cells;
  var kinds = Array.prototype.map.call(heads, function (th) { return th.getAttribute("data-kind"); });
  var rank = {};
  spec.order.forEach(function (row, position) { rank[row] = position; });
  var state = {col: -1, sign: 1, query: "", group: "", page: 0};
  var filter = document.getElementById(id + "-filter"), group = document.getElementById(id + "-group");
  var prev = document.getElementById(id + "-prev"), next = document.getElementById(id + "-next");
  var status = document.getElementById(id + "-status");
  function matches(row) {
    var cells = rows[row];
    if (state.group !== "" && String(cells[spec.group]) !== state.group) { return false; }
    return state.query === "" || String(cells[spec.label]).toLowerCase().indexOf(state.query) >= 0;
  }
  function view() {
    var shown = spec.order.filter(matches), col = state.col, sign = state.sign;
    if (col < 0) { return shown; }
    var text = kinds[col] === "text";
    var key = function (row) { var v = rows[row][col]; return v === null || !text ? v : String(v).toLowerCase(); };
    var keys = {};
    shown.forEach(function (row) { keys[row] = key(row); });
    return shown.sort(function (a, b) {
      var x = keys[a], y = keys[b];
      if ((x === null) !== (y === null)) { return x === null ? 1 : -1; }
      if (x !== null && x !== y) { return (x < y ? -1 : 1) * sign; }
      return rank[a] - rank[b];
    });
  }
  function draw() {
    var start = performance.now(), shown = view(), size = spec.page;
    var pages = Math.max(1, Math.ceil(shown.length / size));
    state.page = Math.min(state.page, pages - 1);
    var first = state.page * size, slice = shown.slice(first, first + size);
    var body = document.createElement("tbody");
    slice.forEach(function (row) {
      var tr = body.insertRow();
      tr.setAttribute("data-i", String(row));
      rows[row].forEach(function (value, col) {
        var td = tr.insertCell();
        td.textContent = show(value, kinds[col]);
        if (kinds[col] === "text") { td.className = "name"; }
      });
    });
    table.replaceChild(body, table.tBodies[0]);
    var of = shown.length < rows.length ? " matching, of " + thousands(rows.length) : "";
    status.textContent = shown.length === 0 ? "no row matches" :
      "rows " + thousands(first + 1) + "-" + thousands(first + slice.length) + " of " + thousands(shown.length) + of;
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
    table.setAttribute("data-page", String(state.page));
    table.setAttribute("data-draw-ms", String(Math.round(performance.now() - start)));
  }
  function sortBy(th) {
    var col = th.cellIndex, ascending = th.getAttribute("aria-sort") !== "ascending";
    state.col = col;
    state.sign = ascending ? 1 : -1;
    state.page = 0;
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    table.setAttribute("data-sorted-by", th.getAttribute("data-key"));
    draw();
  }
  Array.prototype.forEach.call(heads, function (th) {
    th.classList.add("sort");
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(th); }
    });
  });
  filter.addEventListener("input", function () { state.query = filter.value.toLowerCase(); state.page = 0; draw(); });
  if (group) {
    group.addEventListener("change", function () { state.group = group.value; state.page = 0; draw(); });
  }
  prev.addEventListener("click", function () { state.page -= 1; draw(); });
  next.addEventListener("click", function () { state.page += 1; draw(); });
  document.getElementById(id + "-pager").hidden = false;
  draw();
}
document.querySelectorAll("table.paged").forEach(pagedTable);
})();"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
  content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src '{{ script_hash }}'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tailtag report: {{ header.run }}</title>
<style>{{ style|safe }}</style>
</head>
<body>
<main>
{%- macro na(text) -%}
  {%- if text == "n/a" %}<span class="na" title="not available">n/a</span>{% else %}{{ text }}{% endif -%}
{%- endmacro -%}
{%- macro failed(s) %}{% if s.error %}<p class="error">{{ s.error }}</p>{% endif %}{% endmacro -%}
{%- macro notes(s) %}{% for n in s.notes %}<p class="note">{{ n }}</p>{% endfor %}{% endmacro -%}
{%- macro plot(uri, alt) -%}
  {%- if uri %}<img class="plot" src="{{ uri }}" alt="{{ alt }}">
  {%- else %}<p class="na">{{ alt }}: not available.</p>{% endif -%}
{%- endmacro -%}
{%- macro arrow(higher) %}{{ "\u2191" if higher else "\u2193" }}{% endmacro -%}
{%- macro head(columns) -%}
<thead><tr>
{%- for c in columns %}
<th data-key="{{ c.key }}" data-kind="{{ c.kind }}"{% if c.kind == "text" %} class="name"{% endif %}
  {%- if c.help %} title="{{ c.help }}"{% endif %}>{{ c.title }}</th>
{%- endfor %}
</tr></thead>
{%- endmacro %}
{%- macro paged(t) -%}
<p class="foot">{{ "{:,}".format(t.n_rows) }} {{ t.noun }}. {{ t.order_note }}</p>
<div class="pager" id="{{ t.id }}-pager" hidden>
<input id="{{ t.id }}-filter" type="search" placeholder="filter by name" aria-label="filter by name">
{%- if t.groups %}
<select id="{{ t.id }}-group" aria-label="bucket"><option value="">all buckets</option>
{%- for g in t.groups %}<option value="{{ g }}">{{ g }}</option>{% endfor %}</select>
{%- endif %}
{%- set one_page = t.n_rows <= t.page_rows %}
<button type="button" id="{{ t.id }}-prev"{% if one_page %} hidden{% endif %}>previous</button>
<span id="{{ t.id }}-status"></span>
<button type="button" id="{{ t.id }}-next"{% if one_page %} hidden{% endif %}>next</button>
</div>
{%- if t.n_rows > t.first_page|length %}
<noscript><p class="note">Without JavaScript only the first {{ t.first_page|length }} of {{ "{:,}".format(t.n_rows) }}
rows are shown, in the order above (`tailtag evaluate` writes every label's numbers to per_class.csv too).</p>
</noscript>
{%- endif %}
<div class="scroll"><table id="{{ t.id }}" class="paged">
{{ head(t.columns) }}
<tbody>
{%- for row in t.first_page %}
<tr data-i="{{ row.i }}">{% for text, css in row.cells %}<td{% if css %} class="{{ css }}"{% endif %}>{{ text }}</td>
{%- endfor %}</tr>
{%- endfor %}
</tbody></table></div>
<script type="application/json" id="{{ t.id }}-data">{{ t.data_json|safe }}</script>
{%- endmacro %}
<h1>tailtag report: {{ header.run }}</h1>
<table class="meta" id="run-meta">
{%- for key, value in header.meta %}
<tr><th>{{ key }}</th><td>{{ na(value) }}</td></tr>
{%- endfor %}
</table>
<h3>Command</h3>
{% if header.command %}<pre id="command">{{ header.command }}</pre>{% else %}<p class="na">not available</p>{% endif %}
<details id="config"><summary>config.yaml</summary>
{% if header.config %}<pre>{{ header.config }}</pre>{% else %}<p class="na">not available</p>{% endif %}
</details>
{%- if header.warnings %}
<section class="warnings" id="warnings"><h2>Warnings ({{ header.warnings|length }})</h2>
<ul>{% for w in header.warnings %}<li>{{ w }}</li>{% endfor %}</ul>
</section>
{%- endif %}
<nav>{% for id, title in toc %}<a href="#{{ id }}">{{ title }}</a>{% endfor %}</nav>

<section id="headline"><h2>Headline metrics</h2>{{ failed(headline) }}
{%- if headline.rows %}
<table id="headline-table">
<thead><tr><th class="name">metric</th><th>model, fitted thresholds</th><th>model, threshold 0.5</th>
<th>baseline: prior</th><th>baseline: all negative</th></tr></thead>
<tbody>
{%- for row in headline.rows %}
<tr data-metric="{{ row.name }}"><td class="name">{{ row.name }}
  {%- if row.inflated %}<sup><a href="#inflated">*</a></sup>{% endif %} {{ arrow(row.higher) }}</td>
  {%- for text, css in row.cells %}<td class="{{ css }}">{{ na(text) }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody></table>
<p class="foot" id="inflated">* Inflated by negatives: label-wise accuracy and Hamming loss average over every
(image, label) cell, and most cells of a multi-label matrix are negative, so predicting nothing already scores
well (see the all-negative column). Judge the model by F1 and mAP. \u2191 higher is better, \u2193 lower is
better; a red model cell is beaten by a baseline.</p>
{%- endif %}
{% if headline.gain %}<p class="note">{{ headline.gain }}</p>{% endif %}
<h3>Other metrics (fitted thresholds)</h3>
<table id="other-metrics"><tbody>
{%- for row in headline.other %}
<tr><td class="name">{{ row.name }} {{ arrow(row.higher) }}</td><td>{{ na(row.text) }}</td></tr>
{%- endfor %}
</tbody></table>
</section>

<section id="imbalance"><h2>Imbalance profile</h2>{{ failed(imbalance) }}{{ notes(imbalance) }}
{{ plot(imbalance.plot, "Training label counts, sorted") }}
{%- if imbalance.rows %}
<table id="buckets">
<thead><tr><th class="name">bucket</th><th>labels</th><th>train count range</th>
<th>macro-F1</th><th>micro-F1</th><th>mAP</th></tr></thead>
<tbody>
{%- for row in imbalance.rows %}
<tr><td class="name">{{ row.bucket }}</td><td>{{ row.n_labels }}</td><td>{{ row.train_range }}</td>
  {%- for text in row.cells %}<td>{{ na(text) }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody></table>
{%- endif %}
</section>

<section id="training"><h2>Training curves</h2>{{ failed(training) }}
{{ plot(training.plot, "Training history") }}
</section>

<section id="classes"><h2>Per-class metrics</h2>{{ failed(per_class) }}{{ notes(per_class) }}
{%- if per_class.buckets_plot %}
<h3>Per-class F1, AP and threshold by bucket</h3>
{{ plot(per_class.buckets_plot, "Per-class metrics by bucket") }}
{%- endif %}
{%- if per_class.table %}
{% if per_class.buckets_plot %}<h3>Every label</h3>{% endif %}
{{ paged(per_class.table) }}
{%- endif %}
</section>

<section id="curves"><h2>Precision-recall and threshold curves</h2>{{ failed(curves) }}{{ notes(curves) }}
<h3>Precision-recall (red dot: fitted threshold; dotted line: prevalence)</h3>
{{ plot(curves.pr, "Precision-recall curves") }}
<h3>F1, precision and recall vs threshold (dashed: fitted threshold)</h3>
{{ plot(curves.thr, "Threshold curves") }}
</section>

<section id="calibration"><h2>Calibration</h2>{{ failed(calibration) }}{{ notes(calibration) }}
<table id="calibration-table">
<thead><tr><th class="name">measure ({{ calibration.method }})</th><th>before</th><th>after</th></tr></thead>
<tbody>
{%- for name, before, after in calibration.rows %}
<tr><td class="name">{{ name }}</td><td>{{ na(before) }}</td><td>{{ na(after) }}</td></tr>
{%- endfor %}
</tbody></table>
{{ plot(calibration.plot, "Reliability diagram") }}
</section>

<section id="errors"><h2>Error analysis</h2>{{ failed(errors) }}{{ notes(errors) }}
<p class="foot">The 2x2 counts (tp / fp / fn / tn) of every class are in the per-class table.</p>
<h3>Co-confusion</h3>
{{ plot(errors.co_confusion, "Co-confusion heatmap") }}
<h3>Top false positives and false negatives</h3>
{%- for c in errors.gallery %}
<div class="class-errors" data-label="{{ c.name }}"><h3>{{ c.name }}</h3>
{%- for kind, thumbs, total in [("false positives", c.false_positives, c.n_false_positives),
                                ("false negatives", c.false_negatives, c.n_false_negatives)] %}
<div class="row"><div class="kind">{{ kind }} ({{ thumbs|length }} of {{ total }} listed)</div>
<div class="gallery">
{%- for t in thumbs %}
<figure class="thumb">
  {%- if t.uri %}<img src="{{ t.uri }}" alt="{{ t.path }}" title="{{ t.path }}">
  {%- else %}<div class="missing" title="{{ t.path }}: {{ t.problem }}">no image</div>{% endif -%}
<figcaption>{{ "%.3f"|format(t.score) if t.score is not none else "n/a" }}</figcaption></figure>
{%- endfor %}
</div></div>
{%- endfor %}
</div>
{%- else %}
<p class="na">Misclassified examples: not available.</p>
{%- endfor %}
</section>
{% if multiclass %}
<section id="multiclass"><h2>Multi-class</h2>{{ failed(multiclass) }}{{ notes(multiclass) }}
<table id="multiclass-summary"><tbody>
{%- for name, text in multiclass.metrics %}
<tr><td class="name">{{ name }}</td><td>{{ na(text) }}</td></tr>
{%- endfor %}
</tbody></table>
{{ plot(multiclass.confusion, "Confusion matrix") }}
{%- if multiclass.table %}
{{ paged(multiclass.table) }}
{%- endif %}
</section>
{%- endif %}

<p class="foot">Written by tailtag {{ version }} on {{ written }}. Self-contained: needs no network access.</p>
</main>
<script>{{ script|safe }}</script>
</body>
</html>
"""
