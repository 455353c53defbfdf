#!/usr/bin/env bash
# The whole test suite: install what is missing, build every project, check the module
# boundaries, run every unit test, then the integration suite (real processes, real
# RocksDB, real sockets on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false FORCE_COLOR=0
bash tools/scripts/setup.sh
npx nx run-many -t build --outputStyle=static
node tools/scripts/check-boundaries.mjs
npx nx run-many -t test --outputStyle=static
npx nx run-many -t e2e --outputStyle=static --parallel=1
