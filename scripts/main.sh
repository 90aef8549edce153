#!/usr/bin/env bash
# The main job, from a fresh clone: set up (the compiler in .venv, the engines in .engines),
# check and compile every example into build/NAME/, then run the fraud platform on the
# embedded local engines: deploy it, run its feature pipeline and its training flow, serve
# the scorer, print one prediction of the model and one answered by its fallback (with the
# reason), and stop the server. Everything it writes is under build/ (MLC_MAIN_BUILD).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${MLC_MAIN_BUILD:-$root/build}
bash scripts/setup.sh
mlc="$root/.venv/bin/mlc"
if ! "$mlc" doctor >/dev/null; then
  bash scripts/engines.sh airflow spark serving   # flink: the stream job is not run here
fi

# MLC_MAIN_EXAMPLES: the examples to check and compile (default: every one); the fraud
# platform below runs either way, and a failed example makes the exit status 1 at the end
status=0
for name in ${MLC_MAIN_EXAMPLES:-$(ls examples)}; do
  echo "== $name: check, compile into $build/$name/"
  (cd "examples/$name" && "$mlc" check) || status=1
  (cd "examples/$name" && "$mlc" compile --env local --out "$build/$name" --emit ir) || status=1
done

# The fraud platform runs from a copy of the example (its local env reads and writes data/
# and build/ under the project); the deploy folder is kept apart so a second run is warm.
work="$build/main"
project="$work/fraud"
deploy="$work/deploy"
mkdir -p "$project"
cp -r examples/fraud/. "$project/"
echo "== fraud: deploy to $deploy"
"$mlc" deploy "$project" --env local --to "$deploy"
echo "== fraud: the last hour of card transactions"
"$root/.venv/bin/python" scripts/main_data.py "$project"
echo "== fraud: feature pipeline card_velocity (Spark backfill, then Feast materialize)"
"$mlc" run features.card_velocity "$project" --to "$deploy"
echo "== fraud: training flow retrain_fraud (train, evaluate, gate, publish)"
"$mlc" run retrain_fraud "$project" --to "$deploy" --conf window=30d

echo "== fraud: serve fraud_scorer"
"$mlc" serve fraud_scorer "$project" --to "$deploy" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
predict() { "$mlc" predict fraud_scorer --project "$project" --to "$deploy" --wait 180 "$@"; }
echo "-- a card with a quiet last hour (card_id=c-quiet, 1.50 at a point of sale):"
predict card_id=c-quiet amount_cents:=150 channel=pos
echo "-- a card the platform has never seen (no features: the rules answer):"
predict card_id=c-new amount_cents:=150 channel=online
exit $status
