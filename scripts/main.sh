#!/usr/bin/env bash
# The main job, from a fresh clone: set up (the compiler in .venv, the engines in .engines),
# check and compile every example into build/NAME/, then run two platforms on the embedded
# local engines — the fraud scorer and the recommendations ranker: deploy each, run its
# feature pipelines and its training flow, serve its model, print one prediction of the
# model and one answered by its fallback (with the reason), and stop the server.
# Everything it writes is under build/ (MLC_MAIN_BUILD); MLC_MAIN_PLATFORMS chooses the
# platforms (default: "fraud recommendations").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${MLC_MAIN_BUILD:-$root/build}
bash scripts/setup.sh
mlc="$root/.venv/bin/mlc"
# one deploy per platform: a warm Feast worker (docs/deploy.md) would outlive the job and save
# nothing; a developer redeploying in a loop keeps it on
export MLC_FEAST_WORKER=${MLC_FEAST_WORKER:-off}
# the engines this job runs (not flink nor kafka: the stream job is not run here); judged by
# those only, so a missing broker never rebuilds them, and checked again after the build:
# what engines.sh does not install (java) stops the job here, with its install command
engines=(airflow spark serving)
if ! "$mlc" doctor "${engines[@]}" >/dev/null; then
  bash scripts/engines.sh "${engines[@]}"
  "$mlc" doctor "${engines[@]}"
fi

# MLC_MAIN_EXAMPLES: the examples to check and compile (default: every one); the platforms
# below run either way, and a failed example makes the exit status 1 at the end
status=0
for name in ${MLC_MAIN_EXAMPLES:-$(ls examples)}; do
  echo "== $name: check, compile into $build/$name/"
  (cd "examples/$name" && "$mlc" check) || status=1
  (cd "examples/$name" && "$mlc" compile --env local --out "$build/$name" --emit ir) || status=1
done

# Each platform runs from a copy of its example (its local env reads and writes data/ and
# build/ under the project); the deploy folder is kept apart so a second run is warm.
serving_python="${MLC_ENGINES:-$root/.engines}/serving/bin/python"
server=
stop() { [[ -z $server ]] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=; }; }
trap stop EXIT
platform() {  # NAME: the copy of examples/NAME and its deploy folder
  work="$build/main"
  project="$work/$1"
  deploy="$work/deploy${2:-}"
  mkdir -p "$project"
  cp -r "examples/$1/." "$project/"
  echo "== $1: deploy to $deploy"
  "$mlc" deploy "$project" --env local --to "$deploy"
}
serve() {  # MODEL: serve it in the background until `stop` (one server at a time)
  echo "== $platform_name: serve $1"
  "$mlc" serve "$1" "$project" --to "$deploy" &
  server=$!
}
predict() { "$mlc" predict "$1" --project "$project" --to "$deploy" --wait 180 "${@:2}"; }

for platform_name in ${MLC_MAIN_PLATFORMS:-fraud recommendations}; do
  case $platform_name in
  fraud)
    platform fraud
    echo "== fraud: the last hour of card transactions"
    "$root/.venv/bin/python" scripts/main_data.py "$project"
    echo "== fraud: feature pipeline card_velocity (Spark backfill, then Feast materialize)"
    "$mlc" run features.card_velocity "$project" --to "$deploy"
    echo "== fraud: training flow retrain_fraud (train, evaluate, gate, publish)"
    "$mlc" run retrain_fraud "$project" --to "$deploy" --conf window=30d
    serve fraud_scorer
    echo "-- a card with a quiet last hour (card_id=c-quiet, 1.50 at a point of sale):"
    predict fraud_scorer card_id=c-quiet amount_cents:=150 channel=pos
    echo "-- a card the platform has never seen (no features: the rules answer):"
    predict fraud_scorer card_id=c-new amount_cents:=150 channel=online
    stop
    ;;
  recommendations)
    platform recommendations -recommendations
    echo "== recommendations: the last hour of interactions, the week's plays, yesterday's conversions"
    "$serving_python" scripts/main_data_recs.py "$project"
    for group in member_activity title_popularity member_title_affinity; do
      echo "== recommendations: feature pipeline $group (Spark, then Feast materialize)"
      "$mlc" run "features.$group" "$project" --to "$deploy"
    done
    echo "== recommendations: training flow train_ranker (train, evaluate, gate, publish)"
    "$mlc" run train_ranker "$project" --to "$deploy"
    serve ranker
    echo "-- a member active in the last hour on the week's hit (member_id=m-regular, title_id=t-hit, on a TV):"
    predict ranker member_id=m-regular title_id=t-hit device=tv hour_of_day:=21 row_position:=1
    echo "-- a member the platform has never seen (no features: the popular_titles baseline answers):"
    predict ranker member_id=m-new title_id=t-hit device=tv hour_of_day:=21 row_position:=1
    stop
    ;;
  *) echo "MLC_MAIN_PLATFORMS: no platform $platform_name (fraud, recommendations)" >&2; status=1 ;;
  esac
done
exit $status
