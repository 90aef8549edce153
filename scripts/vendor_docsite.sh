#!/usr/bin/env bash
# The browser libraries `mlc docs` puts in every site (cytoscape for the map, cytoscape-dagre
# for its left-to-right layout), vendored from npm at the versions pinned in
# mlc/docsite/vendor/package-lock.json and committed in mlc/docsite/static/vendor/, so that
# `pip install` alone gives a working `mlc docs` (no npm, no network at build or view time).
#
#   scripts/vendor_docsite.sh           npm ci the lock, copy the dist files, verify SHA256SUMS
#   scripts/vendor_docsite.sh --check   verify the committed files against SHA256SUMS only
#   scripts/vendor_docsite.sh --update  after a version bump: copy, then rewrite SHA256SUMS
set -euo pipefail
cd "$(dirname "$0")/.."
lock=mlc/docsite/vendor
dst=mlc/docsite/static/vendor
mode=${1:-}
case "$mode" in ""|--check|--update) ;; *) echo "usage: $0 [--check|--update]" >&2; exit 2 ;; esac

if [ "$mode" != "--check" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp "$lock/package.json" "$lock/package-lock.json" "$work/"
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  nm="$work/node_modules"
  mkdir -p "$dst"
  cp "$nm/cytoscape/dist/cytoscape.min.js" "$dst/cytoscape.min.js"
  cp "$nm/cytoscape/LICENSE" "$dst/cytoscape.LICENSE"
  cp "$nm/cytoscape-dagre/dist/cytoscape-dagre.min.js" "$dst/cytoscape-dagre.min.js"
  cp "$nm/cytoscape-dagre/dist/cytoscape-dagre.min.js.map" "$dst/cytoscape-dagre.min.js.map"
  cp "$nm/cytoscape-dagre/LICENSE" "$dst/cytoscape-dagre.LICENSE"
fi
if [ "$mode" = "--update" ]; then
  (cd "$dst" && sha256sum -- * > "../../vendor/SHA256SUMS")
  echo "wrote $lock/SHA256SUMS"
fi
# every file listed is there with its hash, and nothing else is in the folder
(cd "$dst" && sha256sum --quiet -c "../../vendor/SHA256SUMS")
extra=$(cd "$dst" && ls | grep -vxF -f <(awk '{print $2}' "../../vendor/SHA256SUMS") || true)
if [ -n "$extra" ]; then echo "not in SHA256SUMS: $extra" >&2; exit 1; fi
echo "vendored files match $lock/SHA256SUMS"
