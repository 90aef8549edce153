#!/usr/bin/env bash
# Creates .venv with mlc and its test tools, from this repository's own files only.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! command -v uv >/dev/null 2>&1; then
  "$PY" -m pip install --quiet --disable-pip-version-check uv==0.13.9 2>/dev/null \
    || "$PY" -m pip install --quiet --disable-pip-version-check uv
fi
UV=$(command -v uv || echo "$PY -m uv")
[[ -x .venv/bin/python ]] || $UV venv --quiet --python "$PY" .venv
# Byte-code is compiled at install time: this machine sets PYTHONDONTWRITEBYTECODE,
# and without .pyc files every `mlc` start re-compiles pydantic and lark (~1 s).
# mlc itself is reinstalled every time: its console script follows pyproject.toml
$UV pip install --quiet --python .venv/bin/python --compile-bytecode --reinstall-package mlc -e '.[dev]'
.venv/bin/python -m compileall -q mlc
# Graphviz draws `mlc graph --format svg`; a Debian package, installed when we may.
if ! command -v dot >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
  (apt-get install -y -qq --no-install-recommends graphviz >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends graphviz >/dev/null; }) \
    || echo "setup: could not install graphviz; mlc graph --format svg will not work" >&2
fi
# Chromium runs the docs site's map in tests/docsite/test_browser.py; a Debian package too.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
  (apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }) \
    || echo "setup: could not install chromium; tests/docsite/test_browser.py will not run" >&2
fi
# Prometheus (promtool and the server) and its Pushgateway test and run the monitoring target's
# rules (tests/prometheus); Debian packages too.
if ! { command -v promtool && command -v prometheus-pushgateway; } >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
  (apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
         && apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway >/dev/null; }) \
    || echo "setup: could not install prometheus; tests/prometheus will not run" >&2
fi
