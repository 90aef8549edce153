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
