#!/usr/bin/env bash
# Whole-program client throughput, zbatch vs a small Python peer, against the same mock.
#
#   bench/compare.sh PATH/TO/zbatch [IMAGES] [CONCURRENCY]
#
# Builds nothing. Starts `zbatch mock --profile ideal` on 127.0.0.1 (any free port) with zero
# queueing and generation time, so only the clients and loopback round trips count; then runs
#  - zbatch: `zbatch scenario run` in http mode against that mock (time scale 1): IMAGES images,
#    strategy bounded,inflight=CONCURRENCY,poll=10ms, i.e. submit, 10 ms, poll, download;
#    the rate is delivered / makespan from its results.json;
#  - Python: bench/python_peer.py (Debian python3 + python3-httpx, asyncio, one shared
#    AsyncClient, CONCURRENCY tasks) doing the same submit, 10 ms, poll, download;
# and prints both rates and their ratio. Every image uses the same prompt and seed so the mock
# renders its PNG once and serves it from its cache for both. Both clients share the 2 cores
# with the mock: the figures are for this machine as a whole, measured back to back.
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
  echo "usage: $0 PATH/TO/zbatch [IMAGES=5000] [CONCURRENCY=64]" >&2
  exit 2
fi
zbatch=$1
images=${2:-5000}
concurrency=${3:-64}
python=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
if ! [[ $images =~ ^[0-9]+$ && $images -ge 1 && $images -le 100000 ]]; then
  echo "$0: IMAGES must be 1..100000 (got '$images')" >&2
  exit 2
fi
if ! [[ $concurrency =~ ^[0-9]+$ && $concurrency -ge 1 && $concurrency -le 256 ]]; then
  echo "$0: CONCURRENCY must be 1..256 (got '$concurrency')" >&2
  exit 2
fi
if ! "$python" -c 'import httpx' 2>/dev/null; then
  echo "$0: $python cannot import httpx (apt-get install python3-httpx)" >&2
  exit 2
fi

work=$(mktemp -d)
mock_pid=
cleanup() {
  if [[ -n $mock_pid ]]; then
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/mock.json" <<'JSON'
{"generation": {"queue": {"kind": "fixed", "ms": 0}, "time": {"kind": "fixed", "ms": 0}}}
JSON
cat > "$work/scenario.json" <<JSON
{"version": 1, "name": "http-throughput",
 "description": "bench/compare.sh: $images images, same prompt and seed, $concurrency in flight",
 "profile": "ideal",
 "workload": {"batches": $images, "images_per_batch": 1,
              "prompts": ["A seamless geometric pattern, two colors"], "seed_base": 1000},
 "strategies": [{"label": "zbatch", "spec": "bounded,inflight=$concurrency,poll=10ms"}],
 "repetitions": 1, "seed": 1}
JSON

"$zbatch" mock --profile ideal --config "$work/mock.json" --threads $((2 * concurrency + 8)) \
  > "$work/mock.out" 2> "$work/mock.err" &
mock_pid=$!
base_url=
for _ in $(seq 1 100); do
  base_url=$(head -n 1 "$work/mock.out" 2>/dev/null || true)
  [[ -n $base_url ]] && break
  if ! kill -0 "$mock_pid" 2>/dev/null; then
    echo "$0: the mock did not start:" >&2
    cat "$work/mock.err" >&2
    exit 3
  fi
  sleep 0.1
done
if [[ -z $base_url ]]; then
  echo "$0: the mock printed no base URL within 10 s" >&2
  exit 3
fi

"$zbatch" scenario run "$work/scenario.json" --mode http --base-url "$base_url" --time-scale 1 \
  --out "$work/out" --quiet --no-hindsight > /dev/null
zbatch_rate=$("$python" - "$work/out/results.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["strategies"][0]
print(f'{s["delivered"] / (s["makespan_ms"] / 1000.0):.1f}')
PY
)
zbatch_delivered=$("$python" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["strategies"][0]["delivered"]))' "$work/out/results.json")

python_json=$("$python" "$here/python_peer.py" --base-url "$base_url" --images "$images" \
  --concurrency "$concurrency" --poll-ms 10)
python_rate=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["images_per_s"])' "$python_json")
python_delivered=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["delivered"])' "$python_json")

echo "images: $images, in flight: $concurrency, mock: $base_url (ideal, zero generation time)"
printf 'zbatch (actors + blocking http pool): %10s images/s (%s delivered)\n' "$zbatch_rate" "$zbatch_delivered"
printf 'python (httpx.AsyncClient, asyncio): %10s images/s (%s delivered)\n' "$python_rate" "$python_delivered"
"$python" -c 'import sys; print(f"ratio zbatch/python: {float(sys.argv[1]) / float(sys.argv[2]):.2f}")' \
  "$zbatch_rate" "$python_rate"
