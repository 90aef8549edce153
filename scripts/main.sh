#!/usr/bin/env bash
# The main job: set up, then check every example project and print a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
status=0
for project in examples/*/; do
  echo "== ${project%/}"
  (cd "$project" && ../../.venv/bin/mlc check) || status=1
  out=$(mktemp -d)
  (cd "$project" && ../../.venv/bin/mlc compile --env local --out "$out/build" --emit ir) || status=1
  rm -rf "$out"
done
exit $status
