/* The map's logic over the site's data (site.json, format mlc-docs/1), with no DOM: lineage,
 * search, filters, the facets they offer, and the address (#node=ID, #path=ID,ID). The
 * browser uses it as window.MlcCore; tests run the same file under node (module.exports). */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.MlcCore = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var KIND_ORDER = ["source", "entity", "features", "store", "model", "flow", "step", "artifact", "signal"];

  function index(site) {
    if (site._index) {
      return site._index;
    }
    var up = {}, down = {}, byId = {};
    site.nodes.forEach(function (n) {
      byId[n.id] = n;
      up[n.id] = [];
      down[n.id] = [];
    });
    site.edges.forEach(function (e) {
      down[e.source].push(e.target);
      up[e.target].push(e.source);
    });
    Object.defineProperty(site, "_index", {value: {up: up, down: down, byId: byId}, enumerable: false});
    return site._index;
  }

  function reach(adjacent, start) {
    var seen = {}, out = [], todo = [start];
    seen[start] = true;
    while (todo.length) {
      var n = todo.pop();
      adjacent[n].forEach(function (m) {
        if (!seen[m]) {
          seen[m] = true;
          out.push(m);
          todo.push(m);
        }
      });
    }
    return out.sort();
  }

  /* Every node `id` depends on (up) and every node that depends on it (down), by every edge
   * of the program graph: data, model inputs, steps, signals, on_finish, the flow holding a step. */
  function lineage(site, id) {
    var ix = index(site);
    if (!ix.byId[id]) {
      return {up: [], down: []};
    }
    return {up: reach(ix.up, id), down: reach(ix.down, id)};
  }

  function rank(node, q) {
    var name = node.name.toLowerCase(), key = node.key.toLowerCase();
    if (name === q || key === q) {
      return 0;
    }
    if (name.indexOf(q) === 0) {
      return 1;
    }
    if (name.indexOf(q) >= 0) {
      return 2;
    }
    return key.indexOf(q) >= 0 ? 3 : -1;
  }

  /* Node ids whose name (or qualified key) holds `query`, case-insensitively: exact names first,
   * then names starting with it, then the rest; declarations before steps, then by name. */
  function search(site, query) {
    var q = String(query || "").trim().toLowerCase();
    if (!q) {
      return [];
    }
    var hits = [];
    site.nodes.forEach(function (n) {
      var r = rank(n, q);
      if (r >= 0) {
        hits.push([r, KIND_ORDER.indexOf(n.kind), n.name, n.id]);
      }
    });
    hits.sort(function (a, b) {
      for (var i = 0; i < 4; i++) {
        if (a[i] < b[i]) { return -1; }
        if (a[i] > b[i]) { return 1; }
      }
      return 0;
    });
    return hits.map(function (h) { return h[3]; });
  }

  function values(node, facet) {
    if (facet === "tag") {
      return node.tags;
    }
    var v = node[facet];
    return v === null || v === undefined ? [] : [v];
  }

  var FACETS = ["kind", "owner", "tag", "package"];

  /* The values each filter offers: every kind, owner, tag and package some node has. */
  function facets(site) {
    var out = {};
    FACETS.forEach(function (f) {
      var seen = {};
      site.nodes.forEach(function (n) {
        values(n, f).forEach(function (v) { seen[v] = true; });
      });
      out[f] = Object.keys(seen).sort(f === "kind" ? function (a, b) {
        return KIND_ORDER.indexOf(a) - KIND_ORDER.indexOf(b);
      } : undefined);
    });
    return out;
  }

  /* The ids shown under `filters` ({kind, owner, tag, package}: a value, or "" for any): a node
   * matching every filter, and the flow around a step that does (a step is drawn inside it). */
  function visible(site, filters) {
    var shown = {};
    site.nodes.forEach(function (n) {
      var ok = FACETS.every(function (f) {
        return !filters[f] || values(n, f).indexOf(filters[f]) >= 0;
      });
      if (ok) {
        shown[n.id] = true;
        if (n.parent) {
          shown[n.parent] = true;
        }
      }
    });
    return Object.keys(shown).sort();
  }

  /* The parts of the map laid out one by one: node ids grouped by the edges between them (a
   * step with its flow). With `apart`, edges into the feature store do not join groups, and the
   * store's sides a group of their own: on a large program, one layout of everything joined through
   * the store would take minutes; parts of tens of nodes take milliseconds each. Largest first. */
  function parts(site, apart) {
    var ix = index(site), root = {};
    function find(a) {
      while (root[a] !== a) {
        root[a] = root[root[a]];
        a = root[a];
      }
      return a;
    }
    var store = null;
    site.nodes.forEach(function (n) { root[n.id] = n.id; });
    site.nodes.forEach(function (n) {
      if (apart && n.kind === "store") {  // the store's sides are drawn in one box
        store = store === null ? n.id : store;
        root[find(n.id)] = find(store);
      }
    });
    site.edges.forEach(function (e) {
      if (apart && (ix.byId[e.source].kind === "store" || ix.byId[e.target].kind === "store")) {
        return;
      }
      root[find(e.source)] = find(e.target);
    });
    var groups = {};
    site.nodes.forEach(function (n) {
      var r = find(n.id);
      (groups[r] = groups[r] || []).push(n.id);
    });
    return Object.keys(groups).map(function (r) { return groups[r].sort(); }).sort(function (a, b) {
      return b.length - a.length || (a[0] < b[0] ? -1 : 1);
    });
  }

  /* The map's address: `#node=ID` selects a node; `#path=ID,ID,...` highlights a worst path;
   * `#search=TEXT` selects the best match; `#kind=`, `#owner=`, `#tag=`, `#package=` filter
   * (joined by `&`, values URI-encoded). A page links to the map this way. */
  function parseAddress(hash) {
    var out = {node: null, path: [], search: null, filters: {}};
    String(hash || "").replace(/^#/, "").split("&").forEach(function (part) {
      var i = part.indexOf("=");
      if (i < 0) {
        return;
      }
      var k = part.slice(0, i), v = part.slice(i + 1);
      if (k === "node") {
        out.node = decodeURIComponent(v);
      } else if (k === "path") {
        out.path = v.split(",").filter(Boolean).map(decodeURIComponent);
      } else if (k === "search") {
        out.search = decodeURIComponent(v);
      } else if (FACETS.indexOf(k) >= 0) {
        out.filters[k] = decodeURIComponent(v);
      }
    });
    return out;
  }

  return {lineage: lineage, search: search, parts: parts, facets: facets, visible: visible, parseAddress: parseAddress,
          KIND_ORDER: KIND_ORDER};
});
