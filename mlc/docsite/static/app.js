/* The map: the program graph drawn by cytoscape, laid out left to right (data to predictions)
 * by dagre, with `mlc graph`'s encodings. Logic lives in core.js; this file only draws. */
(function () {
  "use strict";
  var site = window.MLC_SITE, core = window.MlcCore;
  var STORE_GROUP = "group:feature-store";
  var DASHED = {on_finish: 1, awaits: 1, emits: 1, fallback: 1};

  function classes(n) {
    var c = ["k-" + n.kind];
    if (n.mode) { c.push("m-" + n.mode); }
    if ((n.kind === "model" || n.kind === "step")) { c.push(n.deterministic ? "det" : "ml"); }
    if (n.gate) { c.push("gated"); }
    if (n.external) { c.push("external"); }
    return c.join(" ");
  }

  function label(n) {
    var bits = [n.name];
    if (n.kind === "step" && n.action) { bits.push(n.action); }
    else if (n.kind !== "store") { bits.push(n.kind === "features" ? "features" : n.kind); }
    if (n.mode) { bits.push(n.mode); }
    if (n.kind === "model" || n.kind === "step") { bits.push(n.deterministic ? "deterministic" : "ML"); }
    if (n.gate) { bits.push(n.gate.length > 28 ? n.gate.slice(0, 27) + "\u2026" : n.gate); }
    return bits.join("\n");
  }

  function elements() {
    var els = [{group: "nodes", data: {id: STORE_GROUP, label: "feature store", w: 60, h: 20}, classes: "k-storegroup"}];
    site.nodes.forEach(function (n) {
      var parent = n.parent || (n.kind === "store" ? STORE_GROUP : undefined);
      var text = label(n), lines = text.split("\n");
      // the box fits the label (cytoscape's own "label" sizing is deprecated; a function is slow)
      var w = Math.max.apply(null, lines.map(function (l) { return l.length; })) * 5.2 + 8;
      els.push({group: "nodes", data: {id: n.id, label: text, parent: parent, w: w, h: lines.length * 11 + 4},
                classes: classes(n)});
    });
    site.edges.forEach(function (e, i) {
      if (e.kind === "contains") { return; }  // drawn as the flow around its steps
      var text = {on_finish: "on_finish", awaits: "awaits", emits: "emits", fallback: "fallback",
                  online: "online", offline: "offline", produces: "produces", uses: "uses",
                  deploys: "deploys", materializes: "materializes", keys: "key"}[e.kind] || "";
      els.push({group: "edges", data: {id: "e" + i, source: e.source, target: e.target, label: text},
                classes: "e-" + e.kind + (DASHED[e.kind] ? " dashed" : "")});
    });
    return els;
  }

  var STYLE = [
    {selector: "node", style: {"label": "data(label)", "text-wrap": "wrap", "text-valign": "center",
      "font-size": 9, "font-family": "Helvetica, Arial, sans-serif", "width": "data(w)", "height": "data(h)",
      "padding": 8, "shape": "round-rectangle", "background-color": "#ffffff", "border-width": 1.5,
      "border-color": "#334155"}},
    {selector: ":parent", style: {"text-valign": "top", "text-halign": "center", "font-weight": "bold",
      "background-color": "#ffffff", "background-opacity": 0.6, "border-color": "#1e293b", "padding": 12}},
    {selector: ".k-source", style: {"shape": "barrel"}},
    {selector: ".k-entity", style: {"shape": "ellipse", "background-color": "#f8fafc"}},
    {selector: ".k-features", style: {"shape": "round-rectangle", "border-width": 2.5}},
    {selector: ".m-stream", style: {"background-color": "#e0f2fe", "border-color": "#0369a1"}},
    {selector: ".m-batch", style: {"background-color": "#fef3c7", "border-color": "#b45309"}},
    {selector: ".m-request", style: {"background-color": "#f3e8ff", "border-color": "#7e22ce"}},
    {selector: ".k-model", style: {"shape": "hexagon", "padding": 14}},
    {selector: ".det", style: {"background-color": "#e9f5db", "border-color": "#4f772d"}},
    {selector: ".ml", style: {"background-color": "#fde2e4", "border-color": "#c9184a"}},
    {selector: ".gated", style: {"border-style": "double", "border-width": 5}},
    {selector: ".k-signal", style: {"shape": "tag", "background-color": "#fff7ed", "border-color": "#ea580c"}},
    {selector: ".external", style: {"border-style": "dashed"}},
    {selector: ".k-store", style: {"shape": "barrel", "background-color": "#f1f5f9", "border-color": "#334155"}},
    {selector: ".k-storegroup", style: {"background-color": "#f1f5f9", "border-style": "dashed"}},
    {selector: ".k-flow", style: {"shape": "round-rectangle"}},
    {selector: ".k-artifact", style: {"shape": "cut-rectangle", "background-color": "#ecfeff", "border-color": "#0e7490"}},
    {selector: "edge", style: {"width": 1.2, "curve-style": "bezier", "target-arrow-shape": "triangle",
      "line-color": "#94a3b8", "target-arrow-color": "#94a3b8", "label": "data(label)", "font-size": 7,
      "text-rotation": "autorotate", "text-background-color": "#ffffff", "text-background-opacity": 0.8}},
    {selector: ".dashed", style: {"line-style": "dashed"}},
    {selector: ".e-awaits, .e-emits", style: {"line-color": "#ea580c", "target-arrow-color": "#ea580c"}},
    {selector: ".e-on_finish", style: {"line-color": "#1e293b", "target-arrow-color": "#1e293b", "width": 2}},
    {selector: ".e-fallback", style: {"line-color": "#c9184a", "target-arrow-color": "#c9184a"}},
    {selector: ".e-online, .e-offline", style: {"line-color": "#64748b", "target-arrow-color": "#64748b"}},
    {selector: ".faded", style: {"opacity": 0.15}},
    {selector: ".up", style: {"border-color": "#2563eb", "border-width": 4, "line-color": "#2563eb",
      "target-arrow-color": "#2563eb", "opacity": 1}},
    {selector: ".down", style: {"border-color": "#16a34a", "border-width": 4, "line-color": "#16a34a",
      "target-arrow-color": "#16a34a", "opacity": 1}},
    {selector: ".onpath", style: {"border-color": "#f59e0b", "border-width": 6, "line-color": "#f59e0b",
      "target-arrow-color": "#f59e0b", "width": 4, "opacity": 1}},
    {selector: ".chosen", style: {"border-color": "#000000", "border-width": 6, "opacity": 1}},
    {selector: ".pending", style: {"visibility": "hidden"}},  // laid out soon: sized, not drawn
    {selector: ".hidden", style: {"display": "none"}}
  ];

  var LARGE = 1500;  // nodes: above this, the map is laid out in parts (core.parts) and drawn lighter
  var large = site.nodes.length > LARGE;
  var cy = window.cytoscape({
    layout: {name: "null"},  // placed by layout() below
    container: document.getElementById("map"), elements: elements(), style: STYLE,
    minZoom: 0.02, maxZoom: 4, boxSelectionEnabled: false, textureOnViewport: large, hideEdgesOnViewport: large
  });
  if (large) {  // labels only when readable; the many edges into the feature store faint
    cy.style().selector("node").style("min-zoomed-font-size", 8)
      .selector(".e-online, .e-offline").style("opacity", 0.12).update();
  }

  /* Lays out each part left to right with dagre and packs the parts in rows, largest first; then
   * `done()`. dagre places nodes, not edges into compound nodes: those (on_finish, awaits) are
   * drawn only. A large map is laid out in slices of ~50 ms, each shown as soon as it is placed,
   * so the first parts are on screen at once and the page stays responsive while the rest follow. */
  function layout(done) {
    var groups = core.parts(site, large), next = 0;
    var total = 0;
    groups.forEach(function (ids) { total += ids.length; });
    // rows about as wide as the packed map is tall (a part's area grows with its nodes)
    var rowWidth = Math.sqrt(total * 9000) * 1.6, x = 0, y = 0, rowHeight = 0, gap = 60;
    function place(ids) {
      var nodes = cy.collection(ids.map(function (i) { return cy.getElementById(i); }));
      if (nodes.some(function (n) { return n.data("parent") === STORE_GROUP; })) {
        nodes = nodes.union(cy.getElementById(STORE_GROUP));
      }
      var edges = nodes.edgesWith(nodes).filter(function (e) {
        return !e.source().isParent() && !e.target().isParent();
      });
      nodes.union(edges).layout({name: "dagre", rankDir: "LR", nodeSep: 18, rankSep: 60, edgeSep: 8,
                                 fit: false, animate: false}).run();
      var box = extent(nodes);
      rowWidth = Math.max(rowWidth, box.w);
      if (x > 0 && x + box.w > rowWidth) {
        x = 0;
        y += rowHeight + gap;
        rowHeight = 0;
      }
      var dx = x - box.x1, dy = y - box.y1;
      nodes.filter(function (n) { return !n.isParent(); }).positions(function (n) {
        var at = n.position();
        return {x: at.x + dx, y: at.y + dy};
      });
      x += box.w + gap;
      rowHeight = Math.max(rowHeight, box.h);
      return nodes;
    }
    /* The box around a part's nodes, from their positions and sizes (cytoscape's own bounding
     * box is empty for nodes not displayed yet); room for a flow's frame and title around. */
    function extent(nodes) {
      var b = {x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity};
      nodes.forEach(function (n) {
        if (n.isParent()) { return; }
        var at = n.position(), w = n.data("w") / 2 + 30, h = n.data("h") / 2 + 30;
        b.x1 = Math.min(b.x1, at.x - w);
        b.y1 = Math.min(b.y1, at.y - h);
        b.x2 = Math.max(b.x2, at.x + w);
        b.y2 = Math.max(b.y2, at.y + h);
      });
      b.w = b.x2 - b.x1;
      b.h = b.y2 - b.y1;
      return b;
    }
    function slice() {
      var start = window.performance.now(), shown = cy.collection();
      cy.batch(function () {
        while (next < groups.length && (!large || window.performance.now() - start < 50)) {
          shown = shown.union(place(groups[next++]));
        }
        shown.union(shown.edgesWith(cy.nodes().not(".pending"))).union(shown.edgesWith(shown)).removeClass("pending");
      });
      if (next === 1 || next === groups.length) {
        cy.fit(cy.nodes().not(".pending"), 20);
      }
      if (next < groups.length) {
        if (!document.body.dataset.renderMs) {
          document.body.dataset.renderMs = String(Math.round(window.performance.now()));
        }
        window.setTimeout(slice, 0);
      } else {
        done();
      }
    }
    if (large) {
      cy.elements().addClass("pending");
    }
    slice();
  }
  window.mlcMap = cy;

  var ix = {};
  site.nodes.forEach(function (n) { ix[n.id] = n; });
  var info = document.getElementById("info");

  function clear() {
    cy.elements().removeClass("faded up down onpath chosen");
  }

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (cls) { el.className = cls; }
    return el;
  }

  function describe(n, lin) {
    info.textContent = "";
    info.appendChild(text("h2", n.name));
    info.appendChild(text("p", n.kind + (n.mode ? ", " + n.mode : "") +
      (n.kind === "model" || n.kind === "step" ? (n.deterministic ? ", deterministic" : ", ML") : ""), "muted"));
    if (n.why) { info.appendChild(text("p", "probabilistic: " + n.why)); }
    if (n.gate) { info.appendChild(text("p", n.gate)); }
    if (n.owner) { info.appendChild(text("p", "owner: " + n.owner)); }
    if (n.doc) { info.appendChild(text("p", n.doc)); }
    info.appendChild(text("p", lin.up.length + " upstream, " + lin.down.length + " downstream", "muted"));
    [["up", "upstream"], ["down", "downstream"]].forEach(function (side) {
      if (!lin[side[0]].length) { return; }
      var box = document.createElement("details"), list = document.createElement("ul");
      box.appendChild(text("summary", side[1]));
      list.className = "lineage-" + side[0];
      lin[side[0]].forEach(function (m) {
        var li = text("li", ix[m].name + " (" + ix[m].kind + ")");
        li.dataset.id = m;
        li.addEventListener("click", function () { select(m, true); });
        list.appendChild(li);
      });
      box.appendChild(list);
      info.appendChild(box);
    });
    if (n.page) {
      var a = text("a", "open the page of " + n.name);
      a.href = n.page;
      a.id = "open-page";
      info.appendChild(a);
    }
  }

  /* Selects node `id`: it, its upstream (blue) and downstream (green) lineage; the rest fades. */
  function select(id, center) {
    var node = cy.getElementById(id);
    if (!ix[id] || node.empty()) { return; }
    clear();
    var lin = core.lineage(site, id), keep = {};
    keep[id] = true;
    lin.up.forEach(function (m) { keep[m] = true; cy.getElementById(m).addClass("up"); });
    lin.down.forEach(function (m) { keep[m] = true; cy.getElementById(m).addClass("down"); });
    cy.nodes().forEach(function (m) {
      if (!keep[m.id()] && m.id() !== STORE_GROUP) { m.addClass("faded"); }
    });
    cy.edges().forEach(function (e) {
      var s = e.source().id(), t = e.target().id();
      if ((s === id || lin.up.indexOf(s) >= 0) && (t === id || lin.up.indexOf(t) >= 0)) { e.addClass("up"); }
      else if ((s === id || lin.down.indexOf(s) >= 0) && (t === id || lin.down.indexOf(t) >= 0)) { e.addClass("down"); }
      else { e.addClass("faded"); }
    });
    node.addClass("chosen");
    document.body.dataset.selected = id;
    // what the map highlights, for whoever checks it (tests, tools): node counts by colour
    document.body.dataset.up = String(cy.nodes(".up").length);
    document.body.dataset.down = String(cy.nodes(".down").length);
    describe(ix[id], lin);
    if (center) { cy.animate({center: {eles: node}, zoom: Math.max(cy.zoom(), 0.8)}, {duration: 200}); }
  }

  /* Highlights a worst path (as a page links to it): its nodes and the edges between them. */
  function showPath(ids) {
    clear();
    var on = {};
    ids.forEach(function (i) { on[i] = true; });
    cy.elements().addClass("faded");
    ids.forEach(function (i) { cy.getElementById(i).removeClass("faded").addClass("onpath"); });
    cy.edges().forEach(function (e) {
      if (on[e.source().id()] && on[e.target().id()]) { e.removeClass("faded").addClass("onpath"); }
    });
    var found = cy.collection(ids.map(function (i) { return cy.getElementById(i); }));
    if (found.nonempty()) { cy.fit(found, 80); }
  }

  cy.on("tap", "node", function (ev) {
    if (ix[ev.target.id()]) { select(ev.target.id(), false); }
  });
  cy.on("tap", function (ev) {
    if (ev.target === cy) { clear(); delete document.body.dataset.selected; info.textContent = ""; }
  });

  var box = document.getElementById("search"), hits = document.getElementById("hits");
  function runSearch(chooseFirst) {
    var found = core.search(site, box.value);
    hits.textContent = "";
    found.slice(0, 12).forEach(function (id) {
      var li = text("li", ix[id].name + " (" + ix[id].kind + ")");
      li.dataset.id = id;
      li.addEventListener("click", function () { select(id, true); });
      hits.appendChild(li);
    });
    if (chooseFirst && found.length) { select(found[0], true); }
  }
  box.addEventListener("input", function () { runSearch(false); });
  box.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { runSearch(true); } });

  var facets = core.facets(site), filters = {};
  function applyFilters() {
    var shown = {};
    core.visible(site, filters).forEach(function (id) { shown[id] = true; });
    cy.nodes().forEach(function (m) {
      var keep = m.id() === STORE_GROUP ? m.children().some(function (c) { return shown[c.id()]; }) : shown[m.id()];
      if (keep) { m.removeClass("hidden"); } else { m.addClass("hidden"); }
    });
    document.body.dataset.shown = String(cy.nodes().not(".hidden").filter(function (m) {
      return m.id() !== STORE_GROUP;
    }).length);
  }
  Object.keys(facets).forEach(function (f) {
    var sel = document.getElementById("filter-" + f);
    facets[f].forEach(function (v) {
      var o = text("option", v);
      o.value = v;
      sel.appendChild(o);
    });
    sel.addEventListener("change", function () {
      filters[f] = sel.value;
      applyFilters();
    });
  });

  function follow() {
    var address = core.parseAddress(window.location.hash);
    Object.keys(facets).forEach(function (f) {
      filters[f] = address.filters[f] || "";
      document.getElementById("filter-" + f).value = filters[f];
    });
    applyFilters();
    if (address.path.length) { showPath(address.path); }
    else if (address.node) { select(address.node, true); }
    else if (address.search !== null) { box.value = address.search; runSearch(true); }
  }
  window.addEventListener("hashchange", follow);
  layout(function () {
    follow();
    // from navigation to the first parts of the map on screen, and to all of it laid out
    // (bench/bench_docs.py reads both)
    var now = String(Math.round(window.performance.now()));
    document.body.dataset.renderMs = document.body.dataset.renderMs || now;
    document.body.dataset.laidOutMs = now;
    document.body.dataset.ready = "1";
  });
})();
