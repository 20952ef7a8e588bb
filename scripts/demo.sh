#!/usr/bin/env bash
# The main job on the bundled mock, no API key needed: builds zbatch, starts the mock in process
# and generates a batch of 4 variants into ./out, then prints the summary.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target zbatch

build/default/cli/zbatch generate --mock \
  --prompt "a lighthouse on a cliff at dawn, oil painting" \
  --count 4 --aspect 16:9 --out ./out
