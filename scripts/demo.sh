#!/usr/bin/env bash
# The main job, no API key needed: builds zbatch, then compares every batching strategy on the
# small preview batch (4 preview images on the free tier's limits) against the bundled mock —
# first in virtual time (exact, seconds), then over real loopback sockets on a compressed clock —
# writes the reports, and finally generates the 4 preview images with `adaptive` (the default
# strategy, whatever the comparison recommended) against the mock started in process. Everything lands in ./out.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target zbatch
zbatch=build/default/cli/zbatch

echo
echo "== preview-4 in virtual time (sim): every strategy, 5 repetitions"
"$zbatch" scenario run preview-4 --mode sim --out out/preview-4-sim --report --quiet
echo
echo "== preview-4 over loopback sockets (http), 1 s of scenario time = 10 ms"
"$zbatch" scenario run preview-4 --mode http --repeat 2 --out out/preview-4-http --report --quiet
echo
echo "== 4 preview images with the adaptive strategy, against the mock in process"
"$zbatch" generate --mock modelscope-free --strategy adaptive \
  --prompt "A minimalist summer sale poster, bold sans-serif headline, orange and teal" \
  --count 4 --seed 1000 --out out/images
echo
echo "reports: out/preview-4-sim/report.html, out/preview-4-http/report.html; images: out/images"
