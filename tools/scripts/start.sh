#!/usr/bin/env bash
# Starts a local Hawser on the default ports and keeps it running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
bash tools/scripts/setup.sh
npx nx run-many -t build --outputStyle=static >/dev/null
exec node tools/scripts/local-cluster.mjs "$@"
