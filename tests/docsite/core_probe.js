// Runs the map's logic (mlc/docsite/static/core.js, the file the browser runs) under node over a
// site's data, for tests/docsite: argv[2] the site.json, argv[3] a JSON request
// {lineage: [ids] | "all", search: [queries], visible: [filters], address: [hashes], parts: [apart]}; prints the answers.
"use strict";
const fs = require("fs");
const path = require("path");
const core = require(path.join(__dirname, "..", "..", "mlc", "docsite", "static", "core.js"));
const site = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const ask = JSON.parse(process.argv[3]);
const ids = ask.lineage === "all" ? site.nodes.map((n) => n.id) : (ask.lineage || []);
const out = {lineage: {}, search: {}, visible: [], address: [], facets: core.facets(site),
  parts: (ask.parts || []).map((apart) => core.parts(site, apart))};
ids.forEach((id) => { out.lineage[id] = core.lineage(site, id); });
(ask.search || []).forEach((q) => { out.search[q] = core.search(site, q); });
(ask.visible || []).forEach((f) => { out.visible.push(core.visible(site, f)); });
(ask.address || []).forEach((h) => { out.address.push(core.parseAddress(h)); });
process.stdout.write(JSON.stringify(out));
