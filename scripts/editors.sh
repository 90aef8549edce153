#!/usr/bin/env bash
# Installs the editor extension's npm packages (editors/vscode/package-lock.json: the TextMate
# engine the grammar tests tokenize with, and the extension's LSP client). Idempotent: nothing is
# fetched while node_modules was installed from the same lock file.
set -euo pipefail
cd "$(dirname "$0")/../editors/vscode"
if ! command -v npm >/dev/null 2>&1; then
  echo "editors.sh: npm is not installed (Node.js is needed to test the TextMate grammar)" >&2
  exit 1
fi
stamp=node_modules/.mlc-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >&2
echo "$want" > "$stamp"
