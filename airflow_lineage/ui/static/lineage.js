/* The lineage page: draws a laid-out graph (see airflow_lineage.render.graph_json) as SVG.
 * No third-party code. Modes: "static" (graph inline) and "api" (asks the UI API,
 * relative to this page, with the Airflow session cookie). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("lineage-config").textContent);
  var svg = document.getElementById("graph");
  var canvas = document.getElementById("canvas");
  var statusEl = document.getElementById("status");
  var props = document.getElementById("props");
  var depthEl = document.getElementById("depth");
  var targetEl = document.getElementById("target");
  var scopeEl = document.getElementById("scope");
  var findEl = document.getElementById("find");
  var foundEl = document.getElementById("found");
  var finding = { text: "", matches: [], at: -1 };
  var state = { direction: "both", scope: "run", graph: null, byArn: {}, view: null, selected: null, mode: "graph", searches: {} };
  var base = location.pathname.replace(/\/ui\/?$/, "/");
  window.lineage = { timing: {}, state: state };

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  /* The page's query parameters. A "+" stays a "+": Airflow puts run ids such as
   * manual__2026-01-01T00:00:00+00:00 into the link unencoded (run ids hold no spaces). */
  function params() {
    var out = new URLSearchParams();
    location.search.replace(/^\?/, "").split("&").forEach(function (part) {
      if (!part) return;
      var i = part.indexOf("=");
      var k = i < 0 ? part : part.slice(0, i), v = i < 0 ? "" : part.slice(i + 1);
      try { out.set(decodeURIComponent(k), decodeURIComponent(v)); } catch (e) { /* skip */ }
    });
    return out;
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.className = isError ? "error" : "";
  }

  function shape(n, stroke, width) {
    var a = ' fill="' + n.fill + '" stroke="' + stroke + '" stroke-width="' + width + '"';
    if (n.shape === "hex") {
      var d = n.h / 2, x = n.x, y = n.y, w = n.w, h = n.h;
      var pts = [[x + d, y], [x + w - d, y], [x + w, y + h / 2], [x + w - d, y + h], [x + d, y + h], [x, y + h / 2]];
      return '<polygon points="' + pts.map(function (p) { return p[0] + "," + p[1]; }).join(" ") + '"' + a + "/>";
    }
    var rx = n.shape === "round" ? 14 : 3;
    return '<rect x="' + n.x + '" y="' + n.y + '" width="' + n.w + '" height="' + n.h + '" rx="' + rx + '"' + a + "/>";
  }

  /* Draw the whole graph in one innerHTML assignment (fast for thousands of vertices). */
  function draw(g) {
    var t0 = performance.now();
    state.graph = g;
    state.byArn = {};
    g.nodes.forEach(function (n) { state.byArn[n.arn] = n; });
    var out = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs><g class="edges">'];
    g.edges.forEach(function (e) {
      var s = state.byArn[e.source], d = state.byArn[e.destination];
      if (!s || !d) return;
      var x1 = s.x + s.w, y1 = s.y + s.h / 2, x2 = d.x, y2 = d.y + d.h / 2;
      var bend = Math.max(40, Math.abs(x2 - x1) / 2);
      out.push('<path class="edge" d="M' + x1 + "," + y1 + " C" + (x1 + bend) + "," + y1 + " " + (x2 - bend) + "," + y2 + " " + x2 + "," + y2 +
        '" fill="none" stroke="#9ca3af" stroke-width="1.2" marker-end="url(#arrow)"/>');
      if (e.type) {
        out.push('<text class="edge-label" x="' + (x1 + x2) / 2 + '" y="' + ((y1 + y2) / 2 - 3) + '" text-anchor="middle">' + esc(e.type) + "</text>");
      }
    });
    out.push('</g><g class="nodes">');
    g.nodes.forEach(function (n, i) {
      var stroke = n.start ? "#dc2626" : n.stroke, width = n.start ? 3 : 1.3;
      if (n.status === "Failed") stroke = "#b91c1c";
      out.push('<g class="node' + (n.start ? " start" : "") + '" data-index="' + i + '" data-lineage-type="' + esc(n.lineageType) + '">' +
        "<title>" + esc(n.label) + "&#10;" + esc(n.arn) + "</title>" + shape(n, stroke, width) +
        '<text class="kind" x="' + (n.x + n.w / 2) + '" y="' + (n.y + 18) + '" fill="#374151" text-anchor="middle">' + esc(n.lineageType + ": " + n.type) + "</text>" +
        '<text class="name" x="' + (n.x + n.w / 2) + '" y="' + (n.y + 34) + '" fill="#111827" text-anchor="middle">' + esc(n.short) + "</text></g>");
    });
    out.push("</g>");
    svg.innerHTML = out.join("");
    state.labels = { k: 0, chars: 0, els: svg.querySelectorAll("g.node text.name") };
    fit();
    if (findEl.value.trim()) find(false);
    var t1 = performance.now();
    window.lineage.timing.buildMs = t1 - t0;
    /* The frame after next has been painted: time to first paint of this graph. */
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        var t2 = performance.now();
        window.lineage.timing.paintMs = t2 - t0;
        window.lineage.timing.sinceFetchMs = window.lineage.fetchStart ? t2 - window.lineage.fetchStart : null;
        document.body.setAttribute("data-rendered", String(g.nodes.length));
      });
    });
    var n = g.nodes.length, m = g.edges.length;
    setStatus(n + " vertices, " + m + " edges" +
      (g.truncated ? " (truncated: " + (g.truncation || "more were reached") + ")" : ""));
  }

  function setView(v) {
    state.view = v;
    svg.setAttribute("viewBox", v.x + " " + v.y + " " + v.w + " " + v.h);
    readableLabels(v);
  }

  /* Below scale 1 the labels grow by 1/scale (up to 1/MIN_FIT), so that they keep their
   * size on screen, and the names are shortened from the left to fit their boxes. */
  function readableLabels(v) {
    var r = svg.getBoundingClientRect(), labels = state.labels;
    if (!labels || !r.width) return;
    var scale = Math.min(r.width / v.w, r.height / v.h);
    var k = Math.round(Math.max(1, Math.min(1 / scale, 1 / MIN_FIT)) * 20) / 20;
    if (k === labels.k) return;
    labels.k = k;
    svg.style.setProperty("--label-k", String(k));
    var chars = Math.max(10, Math.floor(LABEL_CHARS / k));
    if (chars === labels.chars) return;
    labels.chars = chars;
    var nodes = state.graph.nodes;
    for (var i = 0; i < labels.els.length; i++) {
      var text = nodes[i].label;
      labels.els[i].textContent = text.length <= chars ? text : "\u2026" + text.slice(-(chars - 1));
    }
  }

  var READABLE = 0.8; /* where a vertex is centred, the scale to zoom to at least */
  var MIN_FIT = 0.45; /* the smallest scale labels stay readable at (see readableLabels) */
  var LABEL_CHARS = 34; /* as airflow_lineage.render.LABEL_CHARS */

  /* Open fitted: the whole graph, unless even grown labels would be unreadably small:
   * then a readable part from the left (raw data), level with the start entity. */
  function fit(all) {
    var g = state.graph, r = svg.getBoundingClientRect();
    var rw = r.width || 1000, rh = r.height || 700, minScale = MIN_FIT;
    var scale = Math.min(rw / g.width, rh / g.height);
    if (all === true || scale >= minScale) { setView({ x: 0, y: 0, w: g.width, h: g.height }); return; }
    var w = rw / minScale, h = rh / minScale;
    var start = g.nodes.filter(function (n) { return n.start; })[0];
    var cy = start ? start.y + start.h / 2 : g.height / 2;
    var x = g.width <= w ? (g.width - w) / 2 : 0;
    setView({ x: x, y: g.height <= h ? (g.height - h) / 2 : cy - h / 2, w: w, h: h });
  }

  function centreOn(n, minScale) {
    var v = state.view, r = svg.getBoundingClientRect();
    var w = v.w, h = v.h;
    if (minScale && r.width && Math.min(r.width / v.w, r.height / v.h) < minScale) {
      w = r.width / minScale;
      h = r.height / minScale;
    }
    setView({ x: n.x + n.w / 2 - w / 2, y: n.y + n.h / 2 - h / 2, w: w, h: h });
  }

  /* Pan by dragging, zoom with the wheel around the pointer. */
  var drag = null;
  canvas.addEventListener("mousedown", function (ev) {
    if (!state.view) return;
    drag = { x: ev.clientX, y: ev.clientY, view: state.view, moved: false };
    canvas.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    var r = svg.getBoundingClientRect();
    var scale = Math.max(drag.view.w / r.width, drag.view.h / r.height);
    var dx = (ev.clientX - drag.x) * scale, dy = (ev.clientY - drag.y) * scale;
    if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
    setView({ x: drag.view.x - dx, y: drag.view.y - dy, w: drag.view.w, h: drag.view.h });
  });
  window.addEventListener("mouseup", function () {
    canvas.classList.remove("dragging");
    setTimeout(function () { drag = null; }, 0);
  });
  canvas.addEventListener("wheel", function (ev) {
    if (!state.view) return;
    ev.preventDefault();
    var r = svg.getBoundingClientRect(), v = state.view;
    var k = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
    var scale = Math.max(v.w / r.width, v.h / r.height);
    var px = v.x + (ev.clientX - r.left - (r.width - v.w / scale) / 2) * scale;
    var py = v.y + (ev.clientY - r.top - (r.height - v.h / scale) / 2) * scale;
    setView({ x: px - (px - v.x) * k, y: py - (py - v.y) * k, w: v.w * k, h: v.h * k });
  }, { passive: false });

  /* Find in the drawn graph by name, URI or ARN: matches are highlighted, the rest
   * dimmed; the view centres on one match at a time (Enter: the next). */
  function haystack(n) {
    var r = n.record || {};
    return [n.label, n.short, n.arn, r.name, r.source_uri].join("\n").toLowerCase();
  }

  function find(next) {
    var text = findEl.value.trim().toLowerCase(), g = state.graph;
    Array.prototype.forEach.call(svg.querySelectorAll("g.node.match"), function (el) {
      el.classList.remove("match", "current");
    });
    svg.classList.toggle("searching", !!(text && g));
    if (!text || !g) { foundEl.textContent = ""; finding = { text: "", matches: [], at: -1 }; return; }
    if (!next || text !== finding.text) {
      finding = { text: text, matches: [], at: -1 };
      g.nodes.forEach(function (n, i) { if (haystack(n).indexOf(text) >= 0) finding.matches.push(i); });
    }
    finding.matches.forEach(function (i) {
      var el = svg.querySelector('g.node[data-index="' + i + '"]');
      if (el) el.classList.add("match");
    });
    if (!finding.matches.length) { foundEl.textContent = "no match"; return; }
    finding.at = (finding.at + 1) % finding.matches.length;
    var i = finding.matches[finding.at];
    var current = svg.querySelector('g.node[data-index="' + i + '"]');
    if (current) current.classList.add("current");
    centreOn(g.nodes[i], READABLE);
    foundEl.textContent = (finding.at + 1) + " of " + finding.matches.length + " found";
  }

  findEl.addEventListener("input", function () { find(false); });
  findEl.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); find(true); }
  });

  function row(name, value) {
    return "<tr><th>" + esc(name) + "</th><td>" + esc(value) + "</td></tr>";
  }

  function showRecord(n, rec) {
    var html = "<table>" + row("Lineage type", n.lineageType) + row("Type", n.type);
    if (rec) {
      if (rec.name) html += row("Name", rec.name);
      html += row("Source URI", rec.source_uri);
      if (rec.status) html += row("Status", rec.status);
      if (rec.description) html += row("Description", rec.description);
      (rec.source_types || []).forEach(function (st) { html += row(st.source_id_type, st.value); });
      Object.keys(rec.properties || {}).forEach(function (k) { html += row(k, rec.properties[k]); });
      Object.keys(rec.metadata_properties || {}).forEach(function (k) { html += row(k, rec.metadata_properties[k]); });
      html += row("Created", rec.created) + row("Modified", rec.modified);
    }
    html += row("ARN", n.arn) + "</table>";
    html += '<p class="actions"><button type="button" id="recentre">Show lineage from here</button></p>';
    props.innerHTML = '<div id="entity" data-arn="' + esc(n.arn) + '">' + html + "</div>";
    document.getElementById("recentre").addEventListener("click", function () { recentre(n); });
  }

  function select(n) {
    var old = svg.querySelector("g.node.selected");
    if (old) old.classList.remove("selected");
    var el = svg.querySelector('g.node[data-index="' + state.graph.nodes.indexOf(n) + '"]');
    if (el) el.classList.add("selected");
    state.selected = n;
    centreOn(n, READABLE); /* from an overview, zoom to a readable scale around it */
    if (cfg.mode !== "api") { showRecord(n, n.record); return; }
    props.innerHTML = '<p class="hint">Loading…</p>';
    fetchJson("api/entity?arn=" + encodeURIComponent(n.arn)).then(function (body) {
      if (state.selected === n) showRecord(n, body.record);
    }, function (err) { props.innerHTML = '<p class="error">' + esc(err.message) + "</p>"; });
  }

  function recentre(n) {
    if (cfg.mode !== "api") { centreOn(n); return; }
    var q = new URLSearchParams({ arn: n.arn, direction: state.direction, depth: depthEl.value });
    history.pushState(null, "", "?" + q.toString());
    targetEl.value = n.arn;
    setScope("all");
    load();
  }

  document.getElementById("fit").addEventListener("click", function () {
    if (state.graph) fit(true);
  });

  svg.addEventListener("click", function (ev) {
    if (drag && drag.moved) return;
    var el = ev.target.closest ? ev.target.closest("g.node") : null;
    if (el) select(state.graph.nodes[Number(el.getAttribute("data-index"))]);
  });
  svg.addEventListener("dblclick", function (ev) {
    var el = ev.target.closest ? ev.target.closest("g.node") : null;
    if (el) recentre(state.graph.nodes[Number(el.getAttribute("data-index"))]);
  });

  function fetchJson(path) {
    return fetch(base + path, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.ok) return body;
        var why = typeof body.detail === "string" ? body.detail : r.statusText;
        if (r.status === 401) why = "Not signed in to Airflow: " + why;
        if (r.status === 403) why = "Not allowed: " + why;
        throw new Error(r.status + " " + why);
      });
    });
  }

  function setDirection(d) {
    state.direction = d;
    Array.prototype.forEach.call(document.querySelectorAll("[data-direction]"), function (b) {
      b.classList.toggle("active", b.getAttribute("data-direction") === d);
    });
  }

  /* A DAG run's page (dag_id and run_id, no other start): the scope buttons show, and
   * direction and depth apply to "All runs" only. */
  function isRunPage(q) {
    return !!(q.get("dag_id") && q.get("run_id") && !q.get("arn") && !q.get("uri") && !q.get("name"));
  }

  function setScope(s) {
    state.scope = s === "all" ? "all" : "run";
    var runPage = cfg.mode === "api" && isRunPage(params());
    scopeEl.hidden = !runPage;
    Array.prototype.forEach.call(document.querySelectorAll("[data-scope]"), function (b) {
      b.classList.toggle("active", b.getAttribute("data-scope") === state.scope);
    });
    var fixed = runPage && state.scope === "run";
    Array.prototype.forEach.call(document.querySelectorAll("[data-direction]"), function (b) {
      b.disabled = fixed;
      b.title = fixed ? "Applies to All runs" : b.getAttribute("data-title");
    });
    depthEl.disabled = fixed;
  }

  function load() {
    var q = params();
    var direction = state.direction, depth = depthEl.value || "10";
    var path;
    if (q.get("arn") || q.get("uri") || q.get("name")) {
      var p = new URLSearchParams({ direction: direction, depth: depth });
      var by = q.get("arn") ? "arn" : q.get("uri") ? "uri" : "name";
      p.set(by, q.get(by));
      path = "api/graph?" + p.toString();
    } else if (q.get("dag_id") && q.get("run_id")) {
      var rp = state.scope === "all" ? { scope: "all", direction: direction, depth: depth } : { scope: "run" };
      path = "api/dag-runs/" + encodeURIComponent(q.get("dag_id")) + "/" + encodeURIComponent(q.get("run_id")) +
        "/graph?" + new URLSearchParams(rp).toString();
      document.getElementById("title").textContent = "Lineage of " + q.get("dag_id") + " / " + q.get("run_id") +
        (state.scope === "all" ? " (all runs)" : "");
    } else {
      setStatus("Give an ARN, a source URI or a name (a model, a data set, an endpoint) and press Show.");
      return;
    }
    setStatus("Loading…");
    window.lineage.fetchStart = performance.now();
    fetchJson(path).then(draw, function (err) {
      svg.innerHTML = "";
      setStatus(err.message, true);
      document.body.setAttribute("data-error", err.message);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-scope]"), function (b) {
    b.addEventListener("click", function () {
      var q = params();
      q.set("scope", b.getAttribute("data-scope"));
      history.pushState(null, "", "?" + q.toString());
      setScope(b.getAttribute("data-scope"));
      if (cfg.mode === "api") load();
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-direction]"), function (b) {
    b.setAttribute("data-title", b.title);
    b.addEventListener("click", function () {
      setDirection(b.getAttribute("data-direction"));
      if (cfg.mode === "api") load();
    });
  });

  document.getElementById("controls").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (cfg.mode !== "api") return;
    var t = targetEl.value.trim();
    var q = params();
    if (t) {
      q = new URLSearchParams();
      /* An ARN, else a URI (it has a scheme), else a name. */
      q.set(/^arn:/.test(t) ? "arn" : /^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? "uri" : "name", t);
    }
    q.set("direction", state.direction);
    q.set("depth", depthEl.value);
    history.pushState(null, "", "?" + q.toString());
    setScope(q.get("scope"));
    load();
  });


  /* The two views next to the graph: the diff of two models and the impact of a data
   * set. Built with DOM nodes and textContent only: no value is ever read as markup. */
  var viewParts = {
    graph: [canvas, document.getElementById("panel"), document.getElementById("controls"), document.getElementById("finder")],
    diff: [document.getElementById("diff-view")],
    impact: [document.getElementById("impact-view")]
  };

  function node(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (kids || []).forEach(function (k) {
      if (k != null) e.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
    });
    return e;
  }

  /* A table: head is the column names, rows are [cells, class] (a cell: text or a node). */
  function table(id, head, rows) {
    var body = rows.map(function (r) {
      return node("tr", r[1] ? { "class": r[1] } : {}, r[0].map(function (c, i) {
        return node("td", i === 0 ? { "class": "what" } : {}, [c == null ? "\u2014" : c]);
      }));
    });
    return node("table", { id: id }, [
      node("thead", {}, [node("tr", {}, head.map(function (h) { return node("th", {}, [h]); }))]),
      node("tbody", {}, body)
    ]);
  }

  /* "?k=v&…" with every value percent-encoded (a space as %20, never "+": params()
   * keeps a "+" as it is). */
  function search(q) {
    var out = [];
    new URLSearchParams(q).forEach(function (v, k) { out.push(encodeURIComponent(k) + "=" + encodeURIComponent(v)); });
    return "?" + out.join("&");
  }

  function link(text, query) {
    return node("a", { href: search(query) }, [text]);
  }

  function runCell(item) {
    if (!item.dag_id || !item.run_id) return null;
    return link(item.dag_id + " / " + item.run_id, { dag_id: item.dag_id, run_id: item.run_id });
  }

  function arnName(arn) { return arn ? String(arn).split("/").pop() : null; }

  function digests(d) {
    var keys = Object.keys(d || {});
    return keys.length ? keys.map(function (k) { return k + " " + d[k]; }).join("\n") : "no digest";
  }

  function viewDone(name, box, kids) {
    box.replaceChildren.apply(box, kids);
    document.body.setAttribute("data-view-ready", name);
  }

  function viewFailed(box, err) {
    box.replaceChildren(node("p", { "class": "hint" }, ["No answer."]));
    setStatus(err.message, true);
    document.body.setAttribute("data-error", err.message);
  }

  function showDiff(body) {
    var rows = [];
    body.inputs.added.forEach(function (i) { rows.push([["Input added", i.uri + " (" + i.type + ")", null, digests(i.digests)]]); });
    body.inputs.removed.forEach(function (i) { rows.push([["Input removed", i.uri + " (" + i.type + ")", digests(i.digests), null]]); });
    body.inputs.changed.forEach(function (i) { rows.push([["Input digest changed", i.uri + " (" + i.type + ")", digests(i.a), digests(i.b)]]); });
    [["parameters", "Parameter"], ["code", "Code version"], ["steps", "Step"], ["metrics", "Metric"]].forEach(function (s) {
      var m = body[s[0]] || {};
      Object.keys(m).forEach(function (k) { rows.push([[s[1], k, m[k].a, m[k].b]]); });
    });
    var sides = table("diff-models", ["", "Model or endpoint", "DAG run"], [
      [["A", body.a.uri, runCell(body.a)]], [["B", body.b.uri, runCell(body.b)]]
    ]);
    var kids = [sides];
    if (body.same) {
      kids.push(node("p", { "class": "verdict", id: "diff-same" }, ["No differences in inputs, parameters, code versions, steps or metrics."]));
    } else {
      kids.push(node("h3", {}, [rows.length + " differences"]), table("diff-table", ["What", "Name", "A", "B"], rows));
    }
    if (body.truncated) kids.push(node("p", { "class": "hint" }, ["Truncated: " + body.truncation]));
    viewDone("diff", document.getElementById("diff-result"), kids);
    setStatus(body.same ? "No differences" : rows.length + " differences");
  }

  function showImpact(body) {
    var uris = {};
    body.models.forEach(function (m) { uris[m.arn] = m.uri; });
    function models(arns) { return arns.length ? arns.map(function (a) { return uris[a] || arnName(a); }).join("\n") : null; }
    var kids = [
      node("p", { "class": body.deployed ? "verdict bad" : "verdict", id: "impact-verdict" }, [
        body.deployed ? "An endpoint serves an affected model now." : "No endpoint serves an affected model now."
      ]),
      node("h3", {}, ["Data set"]),
      table("impact-datasets", ["Source URI", "Type"], body.datasets.map(function (d) { return [[d.uri, d.type]]; })),
      node("h3", {}, ["Models (" + body.models.length + ")"]),
      table("impact-models", ["Model", "Type", "Task", "DAG run"], body.models.map(function (m) {
        return [[link(m.uri, { arn: m.arn, direction: "upstream" }), m.type, m.task, runCell(m)]];
      })),
      node("h3", {}, ["Approvals (" + body.approvals.length + ")"]),
      table("impact-approvals", ["Approval", "Status", "Models", "DAG run"], body.approvals.map(function (a) {
        return [[arnName(a.arn), a.status, models(a.models), runCell(a)]];
      })),
      node("h3", {}, ["Endpoints (" + body.endpoints.length + ")"]),
      table("impact-endpoints", ["Endpoint", "Serving now (deployment)", "DAG run", "Affected models served", "Serves an affected model"], body.endpoints.map(function (e) {
        return [[e.uri, arnName(e.deployment), runCell(e), models(e.models), e.serving_affected ? "YES" : "no"], e.serving_affected ? "serving" : ""];
      }))
    ];
    Array.prototype.forEach.call(kids[kids.length - 1].querySelectorAll("tr.serving td:last-child"), function (td) { td.classList.add("flag"); });
    if (body.truncated) kids.push(node("p", { "class": "hint" }, ["Truncated: " + body.truncation]));
    viewDone("impact", document.getElementById("impact-result"), kids);
    setStatus(body.models.length + " models, " + body.approvals.length + " approvals, " + body.endpoints.length + " endpoints reached");
  }

  function loadView(name) {
    var q = params();
    document.body.removeAttribute("data-view-ready");
    document.body.removeAttribute("data-error");
    var box = document.getElementById(name + "-result");
    var path;
    if (name === "diff") {
      document.getElementById("diff-a").value = q.get("a") || "";
      document.getElementById("diff-b").value = q.get("b") || "";
      if (!q.get("a") || !q.get("b")) { setStatus("Give two models (ARN, source URI or name) and press Compare."); return; }
      path = "api/diff?" + new URLSearchParams({ a: q.get("a"), b: q.get("b") }).toString();
    } else {
      document.getElementById("impact-dataset").value = q.get("dataset") || "";
      if (!q.get("dataset")) { setStatus("Give a data set (ARN, source URI or name) and press Show impact."); return; }
      path = "api/impact?" + new URLSearchParams({ dataset: q.get("dataset") }).toString();
    }
    setStatus("Loading…");
    fetchJson(path).then(name === "diff" ? showDiff : showImpact, function (err) { viewFailed(box, err); });
  }

  var VIEW_TITLES = { diff: "Compare two models", impact: "Impact of a data set" };
  var pageTitle = document.getElementById("title").textContent;

  function showView(name) {
    state.mode = viewParts[name] ? name : "graph";
    document.getElementById("title").textContent = VIEW_TITLES[state.mode] || pageTitle;
    Object.keys(viewParts).forEach(function (k) {
      viewParts[k].forEach(function (e) { e.hidden = k !== state.mode; });
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-view]"), function (b) {
      b.classList.toggle("active", b.getAttribute("data-view") === state.mode);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-view]"), function (b) {
    b.addEventListener("click", function () {
      var name = b.getAttribute("data-view");
      if (name === state.mode) return;
      /* Each view keeps its own address: back to the graph is back to its start. */
      state.searches[state.mode] = location.search;
      history.pushState(null, "", state.searches[name] || (name === "graph" ? "?" : search({ view: name })));
      init();
    });
  });

  document.getElementById("diff-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    history.pushState(null, "", search({ view: "diff", a: document.getElementById("diff-a").value.trim(), b: document.getElementById("diff-b").value.trim() }));
    loadView("diff");
  });

  document.getElementById("impact-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    history.pushState(null, "", search({ view: "impact", dataset: document.getElementById("impact-dataset").value.trim() }));
    loadView("impact");
  });

  window.addEventListener("popstate", function () { init(); });

  function init() {
    var q = params();
    setDirection(q.get("direction") || "both");
    if (q.get("depth")) depthEl.value = q.get("depth");
    targetEl.value = q.get("arn") || q.get("uri") || q.get("name") || "";
    setScope(q.get("scope"));
    if (cfg.mode === "api") {
      document.getElementById("views").hidden = false;
      showView(q.get("view"));
      if (state.mode === "graph") load(); else loadView(state.mode);
    } else {
      showView("graph");
      document.getElementById("direction").style.display = "none";
      depthEl.parentNode.style.display = "none";
      targetEl.parentNode.style.display = "none";
      document.getElementById("show").style.display = "none";
      draw(cfg.graph);
    }
  }
  init();
})();
