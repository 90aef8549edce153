#!/usr/bin/env bash
# The main job: set up, then for every example project check it and compile it for the
# local env with every backend (Airflow DAGs, Spark and Flink jobs, the IR) into build/NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
root=$(pwd)
status=0
for project in examples/*/; do
  name=$(basename "$project")
  echo "== $name"
  (cd "$project" && "$root/.venv/bin/mlc" check) || status=1
  (cd "$project" && "$root/.venv/bin/mlc" compile --env local --out "$root/build/$name" --emit ir) || status=1
  (cd "$root/build/$name" && find . -type f | sort | sed 's/^\.\//   /')
done
exit $status
