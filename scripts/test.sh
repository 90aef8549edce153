#!/usr/bin/env bash
# Set up (the compiler's .venv and one pinned venv per engine in .engines/), then run the
# whole test suite, engine tests included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/engines.sh
exec .venv/bin/python -m pytest "$@"
